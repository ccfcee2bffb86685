"""Load test for a running ``pipeline serve``: time to first byte, total latency, audio x-real-time
and errors per concurrency level, plus the highest concurrency whose p95 TTFB meets a target.

Example::

    pipeline bench --proto ws --n 24 --concurrency 1,2,4 --url http://127.0.0.1:8000
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from pipeline.tts.backend import SAMPLE_RATE

BYTES_PER_SECOND = SAMPLE_RATE * 2  # PCM16 mono
DEFAULT_TEXT = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do."
)


@dataclass(frozen=True, slots=True)
class Sample:
    ttfb_s: float | None
    total_s: float
    audio_s: float
    error: str | None


@dataclass(frozen=True, slots=True)
class LevelResult:
    concurrency: int
    n: int
    errors: int
    ttfb_p50: float | None
    ttfb_p95: float | None
    total_p50: float | None
    total_p95: float | None
    x_real_time: float  # audio seconds delivered per wall second, all clients together


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def one_http(client, url: str, text: str, voice: str) -> Sample:
    started = time.perf_counter()
    first = None
    size = 0
    try:
        async with client.stream("POST", f"{url}/v1/audio/speech/stream", json={"input": text, "voice": voice}) as r:
            if r.status_code != 200:
                await r.aread()
                return Sample(None, time.perf_counter() - started, 0.0, f"HTTP {r.status_code}")
            async for piece in r.aiter_bytes():
                if first is None and piece:
                    first = time.perf_counter() - started
                size += len(piece)
    except Exception as exc:  # a failed request is a data point, not a crash
        return Sample(None, time.perf_counter() - started, 0.0, f"{type(exc).__name__}: {exc}")
    return Sample(first, time.perf_counter() - started, size / BYTES_PER_SECOND, None)


async def one_ws(url: str, text: str, voice: str, index: int) -> Sample:
    import websockets

    ws_url = url.replace("http://", "ws://").replace("https://", "wss://") + "/v1/audio/speech/stream/ws"
    started = time.perf_counter()
    first = None
    size = 0
    try:
        async with websockets.connect(ws_url, max_size=None) as ws:
            segment = f"bench-{index}"
            await ws.send(json.dumps({"continue": True, "segment_id": segment, "input": text, "voice": voice}))
            while True:
                frame = await ws.recv()
                if isinstance(frame, bytes):
                    if first is None:
                        first = time.perf_counter() - started
                    size += len(frame)
                    continue
                message = json.loads(frame)
                if message.get("type") == "error":
                    return Sample(None, time.perf_counter() - started, 0.0, str(message.get("message")))
                if message.get("type") == "end":
                    break
    except Exception as exc:
        return Sample(None, time.perf_counter() - started, 0.0, f"{type(exc).__name__}: {exc}")
    return Sample(first, time.perf_counter() - started, size / BYTES_PER_SECOND, None)


async def run_level(url: str, proto: str, n: int, concurrency: int, text: str, voice: str) -> LevelResult:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=300) as client:

        async def task(i: int) -> Sample:
            async with gate:
                if proto == "ws":
                    return await one_ws(url, text, voice, i)
                return await one_http(client, url, text, voice)

        started = time.perf_counter()
        samples = await asyncio.gather(*(task(i) for i in range(n)))
        wall = time.perf_counter() - started
    ok = [s for s in samples if s.error is None]
    ttfb = [s.ttfb_s for s in ok if s.ttfb_s is not None]
    totals = [s.total_s for s in ok]
    return LevelResult(
        concurrency=concurrency,
        n=n,
        errors=len(samples) - len(ok),
        ttfb_p50=percentile(ttfb, 0.5),
        ttfb_p95=percentile(ttfb, 0.95),
        total_p50=percentile(totals, 0.5),
        total_p95=percentile(totals, 0.95),
        x_real_time=sum(s.audio_s for s in ok) / wall if wall else 0.0,
    )


def recommend(results: list[LevelResult], target_ttfb_s: float) -> int | None:
    """The highest concurrency with no errors whose p95 TTFB is within the target."""
    good = [r.concurrency for r in results if not r.errors and r.ttfb_p95 is not None and r.ttfb_p95 <= target_ttfb_s]
    return max(good) if good else None
