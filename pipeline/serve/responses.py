"""From segments to what the client receives: encoded audio chunks, word times and the end, as
raw audio (HTTP), NDJSON lines (HTTP with ``timestamps``) or frames (WebSocket); and the
streaming response that holds a job slot while it runs.

A segment that fails mid-stream never yields shorter audio that looks complete: the NDJSON
stream gets an ``error`` line and every HTTP stream is then cut off without its final chunk
(clients see an incomplete body); a WebSocket gets an ``error`` frame instead of ``end``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import WebSocket
from fastapi.responses import StreamingResponse

from pipeline.serve.encoding import AudioEncoder, to_pcm16
from pipeline.serve.synthesis import SegmentAudio
from pipeline.serve.timestamps import shift_words
from pipeline.service_jobs import ClientGone, Outcome, Ticket, run_unless_gone, wait_disconnect
from pipeline.tts.backend import SAMPLE_RATE


@dataclass
class JobState:
    """Shared by a request and its synthesis: ``cancel`` drops its queued pieces; ``finished``
    says the audio was produced to the end."""

    cancel: threading.Event = field(default_factory=threading.Event)
    finished: bool = False


@dataclass(frozen=True, slots=True)
class AudioChunk:
    data: bytes


@dataclass(frozen=True, slots=True)
class Words:
    segment: int
    words: list[dict]


@dataclass(frozen=True, slots=True)
class End:
    audio_seconds: float


Event = AudioChunk | Words | End


async def audio_events(
    segments: AsyncIterator[SegmentAudio], fmt: str, prime_samples: int, chunk_seconds: float
) -> AsyncIterator[Event]:
    """Encoded audio in chunks of ``chunk_seconds``, each segment's words (seconds from the start
    of the stream) after its audio, then :class:`End`."""
    encoder = AudioEncoder(fmt)
    clock = 0
    if prime_samples:
        data = encoder.encode(np.zeros(prime_samples, dtype="<i2"))
        clock += prime_samples
        if data:
            yield AudioChunk(data)
    size = max(1, int(SAMPLE_RATE * chunk_seconds))
    async for segment in segments:
        pcm = to_pcm16(segment.audio)
        for start in range(0, len(pcm), size):
            data = encoder.encode(pcm[start : start + size])
            if data:
                yield AudioChunk(data)
        yield Words(segment.index, shift_words(segment.words, clock / SAMPLE_RATE))
        clock += len(pcm)
    tail = encoder.finish()
    if tail:
        yield AudioChunk(tail)
    yield End(round(clock / SAMPLE_RATE, 3))


class StreamBroken(Exception):
    """Raised inside an HTTP body to cut the stream off (the client sees an incomplete body)."""


async def http_audio(events: AsyncIterator[Event], job: JobState) -> AsyncGenerator[bytes, None]:
    async for event in events:
        if isinstance(event, AudioChunk):
            yield event.data
    job.finished = True


async def http_ndjson(events: AsyncIterator[Event], fmt: str, job: JobState, failure: type[Exception]):
    """NDJSON: ``{"type": "audio", "format", "audio": base64}``, ``{"type": "words", "segment",
    "words"}``, then ``{"type": "end", "audio_seconds"}`` or ``{"type": "error", ...}``."""

    def line(payload: dict) -> bytes:
        return (json.dumps(payload) + "\n").encode()

    try:
        async for event in events:
            if isinstance(event, AudioChunk):
                yield line({"type": "audio", "format": fmt, "audio": base64.b64encode(event.data).decode()})
            elif isinstance(event, Words):
                yield line({"type": "words", "segment": event.segment, "words": event.words})
            else:
                yield line({"type": "end", "audio_seconds": event.audio_seconds})
    except failure as exc:
        yield line({"type": "error", "code": "segment_failed", "message": str(exc)})
        raise
    job.finished = True


class TicketStreamingResponse(StreamingResponse):
    """Waits for a running slot and streams its job; a client that leaves (while queued or while
    streaming) cancels the job and frees the slot. The ticket is finished and the generator
    closed however the response ends (closing explicitly: a generator cancelled while suspended
    would otherwise linger until garbage collection)."""

    def __init__(self, content: AsyncGenerator[bytes, None], ticket: Ticket, job: JobState, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.ticket = ticket
        self.job = job
        self.generator = content

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        outcome: Outcome = "failed"
        try:
            await run_unless_gone(lambda: wait_disconnect(receive), self._run(scope, receive, send), self.job.cancel)
            outcome = "completed" if self.job.finished else "cancelled"
        except ClientGone:
            outcome = "cancelled"
        finally:
            self.job.cancel.set()
            self.ticket.finish(outcome)
            await close_quietly(self.generator)

    async def _run(self, scope: Any, receive: Any, send: Any) -> None:
        await self.ticket.start()
        await super().__call__(scope, receive, send)


async def close_quietly(generator: AsyncGenerator[Any, None]) -> None:
    try:
        await generator.aclose()
    except RuntimeError:  # still running in a task being torn down: it ends with that task
        pass


class WsInbox:
    """Reads a WebSocket's frames in the background, so a disconnect is seen at once (it sets
    ``gone``) even while a segment is queued or synthesizing; frames wait in order in between."""

    def __init__(self, websocket: WebSocket) -> None:
        self.gone = asyncio.Event()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._read(websocket))

    async def _read(self, websocket: WebSocket) -> None:
        try:
            while True:
                message = await websocket.receive()
                await self._queue.put(message)
                if message["type"] == "websocket.disconnect":
                    break
        except Exception:  # the socket broke: treat as gone
            await self._queue.put({"type": "websocket.disconnect"})
        finally:
            self.gone.set()

    async def next(self) -> dict[str, Any]:
        return await self._queue.get()

    def close(self) -> None:
        self._task.cancel()
