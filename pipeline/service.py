"""``pipeline serve``: a thin FastAPI service over the same TTS engine as batch generation.

Routes: ``POST /v1/audio/speech`` (OpenAI-compatible, whole file), ``POST /v1/audio/speech/stream``
(raw PCM16 24 kHz mono, chunked), WebSocket ``/v1/audio/speech/stream/ws`` (several segments per
connection), ``GET /v1/audio/voices``, ``/healthz``, ``/readyz``, ``/api/status``.

Knobs (environment): ``MAX_CONCURRENT_JOBS`` (12), ``QUEUE_MAXSIZE`` (256), ``FIRST_SEGMENT_MAX_WORDS``
(6), ``FIRST_SEGMENT_BOUNDARIES`` (``.,?!;:``), ``STREAM_CHUNK_SECONDS`` (0.1), ``MAX_INPUT_CHARS``
(20000), ``API_KEY`` (optional bearer token). Example::

    uvicorn --factory pipeline.service:create_app --port 8000
    curl -s localhost:8000/v1/audio/speech/stream -d '{"input": "Hello there.", "voice": "female"}' \\
        -H 'content-type: application/json' > out.pcm
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import soundfile as sf
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.service_guard import RequestGuard, authorized, install_log_redaction
from pipeline.service_jobs import (
    ClientGone,
    JobCancelled,
    JobGate,
    Outcome,
    Ticket,
    run_in_thread_exclusively,
    run_unless_gone,
    wait_disconnect,
)
from pipeline.service_validate import install_validator
from pipeline.settings import Settings, get_settings
from pipeline.tts.backend import SAMPLE_RATE
from pipeline.tts.engine import TTSEngine, build_engine
from pipeline.tts.voice_cache import DEFAULT_MAX_BYTES, VoiceCache
from pipeline.tts.voices import VoiceError

log = logging.getLogger(__name__)

FFMPEG_FORMATS = {"mp3": ("mp3", "audio/mpeg"), "opus": ("ogg", "audio/ogg"), "aac": ("adts", "audio/aac")}
MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}
RETRY_AFTER_S = 1


class ServiceError(Exception):
    """An error answered as JSON ``{"error": {...}}`` (HTTP) or an error frame (WebSocket)."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": "invalid_request_error", "code": self.code}}


def busy_error() -> ServiceError:
    return ServiceError(
        503, "server busy: too many jobs running and queued, retry later", "busy", {"Retry-After": str(RETRY_AFTER_S)}
    )


# --- streaming responses -------------------------------------------------------------------


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


@dataclass
class JobState:
    """Shared by a request and its synthesis thread: ``cancel`` stops the thread at its next
    piece; ``finished`` says the audio was produced to the end."""

    cancel: threading.Event = field(default_factory=threading.Event)
    finished: bool = False


async def close_quietly(generator: AsyncGenerator[bytes, None]) -> None:
    try:
        await generator.aclose()
    except RuntimeError:  # still running in a task being torn down: it ends with that task
        pass


# --- text segmentation and audio ------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
TEXT_BLOCK_CHARS = 300  # ~20 s of speech, one Kokoro piece: a cancel is seen within one piece


def split_segments(text: str, first_max_words: int, boundaries: str) -> list[str]:
    """Cut ``text`` into segments synthesized one after another: the first one short (at most
    ``first_max_words`` words, ending at the last boundary character inside them when there is
    one) for a low time-to-first-byte, the rest at sentence ends."""
    words = text.split()
    if not words:
        return []
    cut = min(first_max_words, len(words))
    if len(words) > first_max_words:
        for index in range(first_max_words, 0, -1):
            if words[index - 1][-1] in boundaries:
                cut = index
                break
    segments = [" ".join(words[:cut])]
    rest = " ".join(words[cut:])
    segments += [part for part in _SENTENCE_END.split(rest) if part.strip()]
    return segments


def text_blocks(text: str, max_chars: int = TEXT_BLOCK_CHARS) -> list[str]:
    """``text`` cut at sentence ends into blocks of about ``max_chars`` (a longer sentence stays
    whole), so a long input is phonemized and synthesized a block at a time."""
    blocks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if blocks and len(blocks[-1]) + len(sentence) < max_chars:
            blocks[-1] += " " + sentence
        elif sentence.strip():
            blocks.append(sentence)
    return blocks


def to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def chunk_bytes(pcm: bytes, chunk_seconds: float) -> Iterator[bytes]:
    size = max(2, int(SAMPLE_RATE * chunk_seconds) * 2)
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]


def encode_audio(audio: np.ndarray, fmt: str) -> bytes:
    if fmt == "pcm":
        return to_pcm16(audio)
    if fmt in ("wav", "flac"):
        buffer = io.BytesIO()
        sf.write(buffer, audio, SAMPLE_RATE, format=fmt.upper(), subtype="PCM_16")
        return buffer.getvalue()
    container, _ = FFMPEG_FORMATS[fmt]
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(SAMPLE_RATE)]
    command += ["-ac", "1", "-i", "pipe:0", "-f", container, "pipe:1"]
    done = subprocess.run(command, input=to_pcm16(audio), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout


def gpu_memory() -> dict[str, int] | None:
    """Free/total bytes on the current CUDA device, or None without CUDA."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        free, total = torch.cuda.mem_get_info()
        return {"free_bytes": int(free), "total_bytes": int(total)}
    except Exception:  # status must answer even when the driver misbehaves
        return None


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


# --- the engine, shared by all requests -----------------------------------------------------


class EngineHost:
    """The one engine instance; synthesis runs in a worker thread, one call at a time (the
    engine is not thread-safe), a piece (<= 510 phonemes) at a time so a cancelled call stops
    early. Checking a voice needs no lock and never waits for a synthesis."""

    def __init__(self, settings: Settings, voice_cache_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.settings = settings
        self.voice_cache_bytes = voice_cache_bytes
        self.engine: TTSEngine | None = None
        self.lock: asyncio.Lock | None = None  # created in the server's event loop

    def load(self) -> None:
        engine = build_engine(self.settings)
        engine.voice_cache = VoiceCache(self.voice_cache_bytes)
        engine.setup()
        self.engine = engine

    def _require(self) -> TTSEngine:
        if self.engine is None:
            raise ServiceError(503, "the TTS engine is still loading", "not_ready", {"Retry-After": "5"})
        return self.engine

    def check_voice(self, voice: str) -> str:
        """The canonical recipe, or a 400; loads no pack and caches nothing."""
        try:
            return self._require().check_voice(voice)
        except VoiceError as exc:
            raise ServiceError(400, str(exc), "invalid_voice") from exc

    def _synthesize(self, text: str, voice: str, speed: float, cancel: threading.Event) -> np.ndarray:
        engine = self._require()
        parts = []
        try:
            for block in text_blocks(text):  # phonemized block by block: a cancel is seen early
                for result in engine.iter_text(block, voice, speed, self.settings.seed):
                    if cancel.is_set():
                        raise JobCancelled()
                    parts.append(result.audio)
        except VoiceError as exc:
            raise ServiceError(400, str(exc), "invalid_voice") from exc
        except ValueError as exc:
            raise ServiceError(400, str(exc), "invalid_input") from exc
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    async def synthesize(self, text: str, voice: str, speed: float, cancel: threading.Event) -> np.ndarray:
        if self.lock is None:
            self.lock = asyncio.Lock()
        return await run_in_thread_exclusively(self.lock, cancel, self._synthesize, text, voice, speed, cancel)


# --- request bodies -------------------------------------------------------------------------


class SpeechRequest(BaseModel):
    model: str = "kokoro"
    input: str
    voice: str = "af_heart"
    response_format: Literal["wav", "pcm", "flac", "mp3", "opus", "aac"] = "wav"
    speed: float = Field(1.0, ge=0.25, le=4.0)


class StreamRequest(BaseModel):
    model: str = "kokoro"
    input: str
    voice: str = "af_heart"
    response_format: Literal["pcm"] = "pcm"
    speed: float = Field(1.0, ge=0.25, le=4.0)


class WsSegment(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    continue_: bool = Field(True, alias="continue")
    segment_id: str | None = None
    input: str = ""
    voice: str = "af_heart"
    format: Literal["pcm"] = "pcm"
    speed: float = Field(1.0, ge=0.25, le=4.0)


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


def voice_cache_status(host: EngineHost) -> dict[str, int] | None:
    if host.engine is None:
        return None
    cache = host.engine.voice_cache
    return {"entries": len(cache), "bytes": cache.bytes, "max_bytes": cache.max_bytes, "evictions": cache.evictions}


# --- the app --------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine loads once, in the lifespan, before the first request. Its knobs
    (MAX_CONCURRENT_JOBS, QUEUE_MAXSIZE, API_KEY, ...) are ``Settings`` fields."""
    config = settings or get_settings()
    host = EngineHost(config, int(config.voice_cache_mb * 2**20))
    gate = JobGate(config.max_concurrent_jobs, config.queue_maxsize, busy_error)
    # A body far larger than the longest allowed input is refused before it is parsed.
    max_body = config.max_input_chars * 4 + 64 * 1024

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # uvicorn has configured its loggers by now
        await asyncio.to_thread(host.load)
        log.info("TTS engine ready: %s", host.engine.info if host.engine else None)
        try:
            yield
        finally:
            if host.engine is not None:
                host.engine.teardown()

    app = FastAPI(title="pipeline serve", lifespan=lifespan)
    # Authentication and the body limit run before any route reads the body.
    app.add_middleware(RequestGuard, api_key=config.api_key, max_body=max_body, max_input_chars=config.max_input_chars)
    install_validator(app, config)  # the validator API: /api/validate, /api/mos, /api/help, ...
    app.state.host = host
    app.state.gate = gate
    app.state.config = config

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.payload(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        body = {"error": {"message": details, "type": "invalid_request_error", "code": "invalid_request"}}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "too_large" if exc.status_code == 413 else str(exc.status_code)
        body = {"error": {"message": str(exc.detail), "type": "invalid_request_error", "code": code}}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    def check_input(text: str) -> str:
        if len(text) > config.max_input_chars:
            raise ServiceError(413, f"input has {len(text)} chars; the limit is {config.max_input_chars}", "too_large")
        if not text.strip():
            raise ServiceError(400, "input is empty", "empty_input")
        if not any(char.isalnum() for char in text):  # punctuation alone would synthesize noise
            raise ServiceError(400, "nothing to say: the input has no speakable words", "empty_input")
        return text

    def segments(text: str) -> list[str]:
        return split_segments(text, config.first_segment_max_words, config.first_segment_boundaries)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if host.engine is None:
            return JSONResponse({"ready": False}, status_code=503)
        info = host.engine.info
        return JSONResponse({"ready": True, "device": info.device, "backend": info.name, "model": info.model})

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        info = host.engine.info if host.engine else None
        return {
            "ready": info is not None,
            "device": info.device if info else None,
            "cuda": bool(info and info.device.startswith("cuda")),
            "backend": info.name if info else None,
            "ffmpeg": ffmpeg_available(),
            "running_jobs": gate.running,
            "queue_depth": gate.waiting,
            "max_concurrent_jobs": gate.max_running,
            "queue_maxsize": gate.max_waiting,
            **gate.counters,
            "voice_cache": voice_cache_status(host),
            "gpu_memory": gpu_memory(),
        }

    @app.get("/v1/audio/voices")
    async def voices() -> dict[str, Any]:
        store = host._require().voices
        return {"voices": store.builtin_names(), "aliases": store.aliases(), "blends": store.blends()}

    @app.post("/v1/audio/speech")
    async def speech(body: SpeechRequest, request: Request) -> Response:
        text = check_input(body.input)
        fmt = body.response_format
        if fmt in FFMPEG_FORMATS and not ffmpeg_available():
            raise ServiceError(
                400,
                f"response_format {fmt!r} needs ffmpeg, which is not installed; use wav, flac or pcm",
                "unsupported_format",
            )
        host.check_voice(body.voice)
        ticket = gate.admit()
        job = JobState()

        async def run() -> np.ndarray:
            await ticket.start()
            return await host.synthesize(text, body.voice, body.speed, job.cancel)

        outcome: Outcome = "failed"
        try:
            audio = await run_unless_gone(lambda: wait_disconnect(request.receive), run(), job.cancel)
            outcome = "completed"
        except ClientGone:
            outcome = "cancelled"
            return Response(status_code=499)  # nobody reads it: the client has left
        finally:
            ticket.finish(outcome)
        if len(audio) == 0:
            raise ServiceError(400, "nothing to say: the input has no speakable words", "empty_input")
        data = await asyncio.to_thread(encode_audio, audio, fmt)
        media = MEDIA_TYPES.get(fmt) or FFMPEG_FORMATS[fmt][1]
        return Response(data, media_type=media)

    async def pcm_stream(text: str, voice: str, speed: float, job: JobState) -> AsyncGenerator[bytes, None]:
        if config.prime_stream and config.prime_bytes:
            yield bytes(config.prime_bytes)
        for segment in segments(text):
            try:
                audio = await host.synthesize(segment, voice, speed, job.cancel)
            except ServiceError as exc:  # headers are sent: skip the piece, keep going
                log.warning("stream segment skipped: %s", exc.message)
                continue
            for piece in chunk_bytes(to_pcm16(audio), config.stream_chunk_seconds):
                yield piece
        job.finished = True

    @app.post("/v1/audio/speech/stream")
    async def speech_stream(body: StreamRequest) -> Response:
        text = check_input(body.input)
        host.check_voice(body.voice)
        ticket = gate.admit()
        job = JobState()
        headers = {"X-Sample-Rate": str(SAMPLE_RATE), "X-Channels": "1", "X-Sample-Format": "s16le"}
        return TicketStreamingResponse(
            pcm_stream(text, body.voice, body.speed, job), ticket, job, media_type="audio/pcm", headers=headers
        )

    @app.websocket("/v1/audio/speech/stream/ws")
    async def speech_ws(websocket: WebSocket) -> None:
        query_key = websocket.query_params.get("api_key")
        await websocket.accept()
        if not (
            authorized(config.api_key, websocket.headers.get("authorization"))
            or (query_key is not None and authorized(config.api_key, f"Bearer {query_key}"))
        ):
            await websocket.send_json(
                {"type": "error", "code": "unauthorized", "message": "missing or invalid API key"}
            )
            await websocket.close(code=1008)
            return
        inbox = WsInbox(websocket)
        try:
            await ws_session(websocket, inbox)
        except (WebSocketDisconnect, ClientGone):
            return
        finally:
            inbox.close()

    async def ws_session(websocket: WebSocket, inbox: WsInbox) -> None:
        async def error(message: str, code: str, segment_id: str | None = None, **extra: Any) -> None:
            frame = {"type": "error", "code": code, "message": message, "segment_id": segment_id, **extra}
            await websocket.send_json(frame)

        while True:
            message = await inbox.next()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            try:
                if raw is None:
                    raise ValueError("expected a JSON text frame, got binary")
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("a frame must be a JSON object")
                request = WsSegment.model_validate(data)
            except (ValueError, ValidationError) as exc:
                await error(f"invalid frame: {exc}", "invalid_frame")
                continue
            if not request.continue_:
                await websocket.close(code=1000)
                return
            sid = request.segment_id
            try:
                text = check_input(request.input)
                host.check_voice(request.voice)
                ticket = gate.admit()
            except ServiceError as exc:
                extra = {"retry_after": RETRY_AFTER_S} if exc.status == 503 else {}
                await error(exc.message, exc.code, sid, **extra)
                continue
            job = JobState()
            stream = pcm_stream(text, request.voice, request.speed, job)

            async def send_segment(ticket: Ticket = ticket, stream: AsyncGenerator[bytes, None] = stream) -> None:
                await ticket.start()
                async for piece in stream:
                    await websocket.send_bytes(piece)

            outcome: Outcome = "failed"
            try:
                await run_unless_gone(inbox.gone.wait, send_segment(), job.cancel)
                outcome = "completed" if job.finished else "cancelled"
            except (ClientGone, WebSocketDisconnect):
                outcome = "cancelled"
                raise
            finally:
                job.cancel.set()
                ticket.finish(outcome)
                await close_quietly(stream)
            await websocket.send_json({"type": "end", "segment_id": sid})

    return app
