"""One request's audio, segment by segment: G2P in the server process, pieces through the
engine pool (up to one segment per worker ahead of the one being sent), silence trimmed at the
joins, word times placed on the trimmed audio.

Example::

    async for segment in synthesize_segments(frontend, pool, plan):
        send(segment.audio); send(segment.words)
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.serve.frontend import Frontend, LanguageUnavailable
from pipeline.serve.pool import EngineFailed, EnginePool, WorkerDied
from pipeline.serve.segments import JOIN_LEAD_S, pause_after, trim_silence
from pipeline.serve.timestamps import piece_word_times, shift_words
from pipeline.tts.backend import SAMPLE_RATE


class SegmentFailed(Exception):
    """A segment that could not be synthesized; the audio sent so far is incomplete."""

    def __init__(self, index: int, text: str, message: str, status: int = 400) -> None:
        super().__init__(f"segment {index} ({text[:40]!r}) failed: {message}")
        self.index = index
        self.message = message
        self.status = status  # 400: the input cannot be spoken; 503: an engine worker died


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    """What a validated request asks for."""

    request_id: str
    segments: tuple[str, ...]
    voice: str
    speed: float
    lang: str | None
    leading_silence_s: float
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True, slots=True)
class SegmentAudio:
    index: int
    text: str
    audio: np.ndarray  # float32 24 kHz, silence at the joins trimmed
    words: list[dict]  # {"word", "start_s", "end_s"} from the start of this segment's audio

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


async def _segment(
    frontend: Frontend, pool: EnginePool, plan: SpeechPlan, pack: np.ndarray, index: int
) -> SegmentAudio:
    text = plan.segments[index]
    try:
        pieces = await frontend.run(frontend.pieces, text, plan.lang)
        outputs = await asyncio.gather(
            *(
                pool.synthesize(
                    piece.phonemes, pack, plan.speed, request_id=plan.request_id, first=index == 0, cancel=plan.cancel
                )
                for piece in pieces
            )
        )
    except (ValueError, EngineFailed) as exc:
        if isinstance(exc, LanguageUnavailable):
            raise
        raise SegmentFailed(index, text, str(exc), 503 if isinstance(exc, WorkerDied) else 400) from exc
    words: list[dict] = []
    clock = 0.0
    for piece, (audio, durations) in zip(pieces, outputs, strict=True):
        words += shift_words(piece_word_times(piece.words, durations), clock)
        clock += len(audio) / SAMPLE_RATE
    audio = np.concatenate([audio for audio, _ in outputs])
    last = index == len(plan.segments) - 1
    lead = plan.leading_silence_s if index == 0 else JOIN_LEAD_S
    tail = pause_after(text) if last else max(0.0, pause_after(text) - JOIN_LEAD_S)
    trimmed, cut = trim_silence(audio, lead, tail)
    return SegmentAudio(index, text, trimmed, shift_words(words, -cut / SAMPLE_RATE, len(trimmed) / SAMPLE_RATE))


async def synthesize_segments(
    frontend: Frontend, pool: EnginePool, plan: SpeechPlan, *, first_alone: bool = True
) -> AsyncIterator[SegmentAudio]:
    """The segments in order; later ones are synthesized while earlier ones are sent. A stream's
    first segment is synthesized alone (``first_alone``), so its worker's threads have the cores
    to themselves (the time to first byte); then up to one segment per worker is synthesized
    ahead. Leaving early (a client gone) cancels what is still queued."""
    pack = await frontend.run(frontend.pack, plan.voice)
    ahead = max(1, pool.size)
    pending: deque[asyncio.Task[SegmentAudio]] = deque()
    following = 0

    def queue_up_to(limit: int) -> None:
        nonlocal following
        while following < len(plan.segments) and len(pending) < limit:
            pending.append(asyncio.ensure_future(_segment(frontend, pool, plan, pack, following)))
            following += 1

    try:
        queue_up_to(1 if first_alone else ahead)
        while pending:
            segment = await pending.popleft()
            queue_up_to(ahead)
            yield segment
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
