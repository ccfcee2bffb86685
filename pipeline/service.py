"""``pipeline serve``: FastAPI over Kokoro engine workers, streaming every format.

Routes: ``POST /v1/audio/speech`` (OpenAI-compatible; whole file, or streamed with ``"stream":
true``), ``POST /v1/audio/speech/stream`` (streamed, PCM16 24 kHz mono by default), WebSocket
``/v1/audio/speech/stream/ws`` (several segments per connection), ``POST /v1/phonemize``,
``GET /v1/models``, ``GET /v1/audio/voices``, ``/healthz``, ``/readyz`` (after every engine
warmed up), ``/api/status``, ``/api/synthesis`` (per-request synthesis intervals).

Every audio route takes ``response_format`` or ``format`` (wav, pcm, flac, mp3, opus, aac; encoded
in-process while streaming), OpenAI voice names (``alloy``, ...), ``lang_code`` and
``timestamps`` (word times: NDJSON on the HTTP routes, a ``words`` frame per segment on the
WebSocket). The parts live in :mod:`pipeline.serve`.

Knobs (environment): ``ENGINE_WORKERS``, ``THREADS_PER_WORKER``, ``MAX_CONCURRENT_JOBS`` (12),
``QUEUE_MAXSIZE`` (256), ``FIRST_SEGMENT_MAX_WORDS`` (6), ``FIRST_SEGMENT_BOUNDARIES``
(``.,?!;:``), ``LEADING_SILENCE_MS`` (50), ``STREAM_CHUNK_SECONDS`` (0.1), ``PRIME_STREAM`` /
``PRIME_BYTES`` (512), ``MAX_INPUT_CHARS`` (20000), ``OPENAI_VOICES_FILE``, ``API_KEY``. Example::

    uvicorn --factory pipeline.service:create_app --port 8000
    curl -s localhost:8000/v1/audio/speech/stream -d '{"input": "Hello there.", "voice": "female", "format": "pcm"}' \\
        -H 'content-type: application/json' > out.pcm
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.serve.encoding import FORMATS, encode_whole
from pipeline.serve.frontend import LANGUAGES, Frontend, LanguageUnavailable
from pipeline.serve.pool import EnginePool, check_device, plan_workers
from pipeline.serve.protocol import (
    RETRY_AFTER_S,
    PhonemizeRequest,
    ServiceError,
    SpeechRequest,
    StreamRequest,
    WsSegment,
    _Speech,
    busy_error,
)
from pipeline.serve.responses import (
    AudioChunk,
    End,
    JobState,
    TicketStreamingResponse,
    Words,
    WsInbox,
    audio_events,
    close_quietly,
    http_audio,
    http_ndjson,
)
from pipeline.serve.segments import split_segments, text_blocks
from pipeline.serve.synthesis import SegmentFailed, SpeechPlan, synthesize_segments
from pipeline.serve.timestamps import shift_words
from pipeline.serve.voices import load_openai_voices
from pipeline.service_guard import RequestGuard, authorized, install_log_redaction
from pipeline.service_jobs import ClientGone, JobGate, Outcome, Ticket, run_unless_gone, wait_disconnect
from pipeline.service_validate import install_validator
from pipeline.settings import Settings, get_settings
from pipeline.tts.backend import SAMPLE_RATE
from pipeline.tts.engine import build_voice_store
from pipeline.tts.voice_cache import VoiceCache
from pipeline.tts.voices import VoiceError

__all__ = ["ServiceError", "create_app"]
log = logging.getLogger(__name__)
MODEL_IDS = ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")


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


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine workers start, load and warm up in the lifespan, before
    ``/readyz`` says ready. A device that is not there stops the start-up with its reason."""
    config = settings or get_settings()
    device = check_device(config)  # refused before anything loads
    pool = EnginePool(config, plan_workers(config, device))
    frontend = Frontend(
        build_voice_store(config),
        VoiceCache(int(config.voice_cache_mb * 2**20)),
        config.lang_code,
        load_openai_voices(config.openai_voices_file),
        config.g2p_by_voice,
    )
    gate = JobGate(config.max_concurrent_jobs, config.queue_maxsize, busy_error)
    # A body far larger than the longest allowed input is refused before it is parsed.
    max_body = config.max_input_chars * 4 + 64 * 1024
    prime_samples = config.prime_bytes // 2 if config.prime_stream else 0

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # uvicorn has configured its loggers by now
        await frontend.run(frontend.g2p, None)
        await pool.start(await frontend.run(frontend.pack, config.voices[0]))
        try:
            yield
        finally:
            await pool.close()
            frontend.close()

    app = FastAPI(title="pipeline serve", lifespan=lifespan)
    # Authentication and the body limit run before any route reads the body.
    app.add_middleware(RequestGuard, api_key=config.api_key, max_body=max_body, max_input_chars=config.max_input_chars)
    install_validator(app, config)  # the validator API: /api/validate, /api/mos, /api/help, ...
    app.state.pool = pool
    app.state.frontend = frontend
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

    def require_ready() -> None:
        if not pool.ready:
            raise ServiceError(503, "the TTS engines are still loading", "not_ready", {"Retry-After": "5"})

    def check_input(text: str) -> str:
        if len(text) > config.max_input_chars:
            raise ServiceError(413, f"input has {len(text)} chars; the limit is {config.max_input_chars}", "too_large")
        if not text.strip():
            raise ServiceError(400, "input is empty", "empty_input")
        if not any(char.isalnum() for char in text):  # punctuation alone would synthesize noise
            raise ServiceError(400, "nothing to say: the input has no speakable words", "empty_input")
        return text

    async def check_language(lang: str | None) -> None:
        if frontend.loaded(lang):
            return
        try:
            await frontend.run(frontend.g2p, lang)
        except LanguageUnavailable as exc:
            raise ServiceError(400, str(exc), "unsupported_language") from exc

    async def plan(body: _Speech, segments: list[str]) -> SpeechPlan:
        """The request checked (nothing waits for synthesis) and ready to synthesize."""
        require_ready()
        check_input(body.input)
        try:
            frontend.check_voice(body.voice)
        except VoiceError as exc:
            raise ServiceError(400, str(exc), "invalid_voice") from exc
        lang = frontend.lang_for(body.voice, body.lang_code)
        await check_language(lang)
        leading = config.leading_silence_ms / 1000
        return SpeechPlan(uuid.uuid4().hex, tuple(segments), body.voice, body.speed, lang, leading)

    def stream_segments(text: str) -> list[str]:
        return split_segments(text, config.first_segment_max_words, config.first_segment_boundaries)

    def streaming_response(speech: SpeechPlan, fmt: str, timestamps: bool) -> TicketStreamingResponse:
        ticket = gate.admit()
        job = JobState(cancel=speech.cancel)
        events = audio_events(
            synthesize_segments(frontend, pool, speech), fmt, prime_samples, config.stream_chunk_seconds
        )
        headers = {"X-Request-Id": speech.request_id, "X-Sample-Rate": str(SAMPLE_RATE), "X-Channels": "1"}
        if fmt == "pcm":
            headers["X-Sample-Format"] = "s16le"
        if timestamps:
            body = http_ndjson(events, fmt, job, SegmentFailed)
            return TicketStreamingResponse(body, ticket, job, media_type="application/x-ndjson", headers=headers)
        return TicketStreamingResponse(
            http_audio(events, job), ticket, job, media_type=FORMATS[fmt].media_type, headers=headers
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if not pool.ready:
            return JSONResponse({"ready": False}, status_code=503)
        devices = sorted({w.device for w in pool.workers})
        return JSONResponse(
            {"ready": True, "device": ",".join(devices), "backend": config.tts_backend, "workers": pool.size}
        )

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        cache = frontend.cache
        devices = sorted({w.device for w in pool.workers})
        return {
            "ready": pool.ready,
            "device": ",".join(devices) or None,
            "cuda": any(d.startswith("cuda") for d in devices),
            "backend": config.tts_backend,
            "ffmpeg": True,  # every format is encoded in-process (PyAV); no binary needed
            "formats": list(FORMATS),
            "running_jobs": gate.running,
            "queue_depth": gate.waiting,
            "max_concurrent_jobs": gate.max_running,
            "queue_maxsize": gate.max_waiting,
            **gate.counters,
            "engines": pool.status(),
            "voice_cache": {
                "entries": len(cache),
                "bytes": cache.bytes,
                "max_bytes": cache.max_bytes,
                "evictions": cache.evictions,
            },
            "gpu_memory": gpu_memory(),
        }

    @app.get("/api/synthesis")
    async def synthesis_log() -> dict[str, Any]:
        """Recent requests' synthesis intervals (worker pid, start, end on the server's monotonic clock)."""
        return {"requests": dict(pool.intervals)}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "pipeline"} for name in MODEL_IDS],
        }

    @app.get("/v1/audio/voices")
    async def voices() -> dict[str, Any]:
        store = frontend.voices
        return {
            "voices": store.builtin_names(),
            "aliases": store.aliases(),
            "blends": store.blends(),
            "openai": frontend.openai_voices,
            "languages": LANGUAGES,
        }

    @app.post("/v1/phonemize")
    async def phonemize(body: PhonemizeRequest) -> dict[str, Any]:
        """Text -> phonemes with the same G2P as generate (``pieces``: what each engine call gets)."""
        check_input(body.input)
        await check_language(body.lang_code)
        try:
            pieces = await frontend.run(frontend.pieces, body.input, body.lang_code)
        except ValueError as exc:
            raise ServiceError(400, str(exc), "invalid_input") from exc
        words = [{"word": w.text, "phonemes": w.phonemes} for piece in pieces for w in piece.words if w.phonemes]
        return {
            "phonemes": " ".join(piece.phonemes for piece in pieces),
            "pieces": [piece.phonemes for piece in pieces],
            "words": words,
            "lang_code": body.lang_code or config.lang_code,
        }

    @app.post("/v1/audio/speech")
    async def speech(body: SpeechRequest, request: Request) -> Response:
        if body.stream:
            return streaming_response(
                await plan(body, stream_segments(body.input)), body.response_format, body.timestamps
            )
        speech = await plan(body, text_blocks(body.input))
        ticket = gate.admit()

        async def run() -> tuple[np.ndarray, list[dict]]:
            await ticket.start()
            parts, words, clock = [], [], 0.0
            # a whole file has no first byte to hurry: its blocks go to every worker at once
            async for segment in synthesize_segments(frontend, pool, speech, first_alone=False):
                words += shift_words(segment.words, clock)
                clock += segment.duration_s
                parts.append(segment.audio)
            return np.concatenate(parts), words

        outcome: Outcome = "failed"
        try:
            audio, words = await run_unless_gone(lambda: wait_disconnect(request.receive), run(), speech.cancel)
            outcome = "completed"
        except ClientGone:
            outcome = "cancelled"
            return Response(status_code=499)  # nobody reads it: the client has left
        except SegmentFailed as exc:
            raise ServiceError(exc.status, str(exc), "synthesis_failed") from exc
        finally:
            ticket.finish(outcome)
        data = await asyncio.to_thread(encode_whole, audio, body.response_format)
        headers = {"X-Request-Id": speech.request_id}
        if body.timestamps:
            payload = {
                "format": body.response_format,
                "sample_rate": SAMPLE_RATE,
                "audio": base64.b64encode(data).decode(),
                "audio_seconds": round(len(audio) / SAMPLE_RATE, 3),
                "words": words,
            }
            return JSONResponse(payload, headers=headers)
        return Response(data, media_type=FORMATS[body.response_format].media_type, headers=headers)

    @app.post("/v1/audio/speech/stream")
    async def speech_stream(body: StreamRequest) -> Response:
        return streaming_response(await plan(body, stream_segments(body.input)), body.response_format, body.timestamps)

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
                speech = await plan(request, stream_segments(request.input))
                ticket = gate.admit()
            except ServiceError as exc:
                extra = {"retry_after": RETRY_AFTER_S} if exc.status == 503 else {}
                await error(exc.message, exc.code, sid, **extra)
                continue
            await ws_segment(websocket, inbox, request, speech, ticket, error)

    async def ws_segment(websocket, inbox, request: WsSegment, speech: SpeechPlan, ticket: Ticket, error) -> None:
        sid = request.segment_id
        job = JobState(cancel=speech.cancel)
        events = audio_events(
            synthesize_segments(frontend, pool, speech),
            request.response_format,
            prime_samples,
            config.stream_chunk_seconds,
        )

        async def send_segment() -> float:
            await ticket.start()
            async for event in events:
                if isinstance(event, AudioChunk):
                    await websocket.send_bytes(event.data)
                elif isinstance(event, Words):
                    if request.timestamps:
                        frame = {"type": "words", "segment_id": sid, "segment": event.segment, "words": event.words}
                        await websocket.send_json(frame)
                elif isinstance(event, End):
                    job.finished = True
                    return event.audio_seconds
            return 0.0

        outcome: Outcome = "failed"
        try:
            seconds = await run_unless_gone(inbox.gone.wait, send_segment(), job.cancel)
            outcome = "completed" if job.finished else "cancelled"
        except (ClientGone, WebSocketDisconnect):
            outcome = "cancelled"
            raise
        except SegmentFailed as exc:
            await error(str(exc), "segment_failed", sid, segment_index=exc.index)
            return
        finally:
            job.cancel.set()
            ticket.finish(outcome)
            await close_quietly(events)
        await websocket.send_json({"type": "end", "segment_id": sid, "audio_seconds": seconds})

    return app
