"""Load test for a running ``pipeline serve``: time to first byte, total latency, audio x-real-time
and errors per concurrency level, plus the highest concurrency whose p95 TTFB meets a target.

``--openai URL`` (repeatable) drives any OpenAI-compatible server the same way (``POST
/v1/audio/speech`` with ``stream: true`` and ``response_format: pcm``), rounds of ``concurrency``
requests alternating between the servers, so they are measured side by side under the same load.

Example::

    pipeline bench --proto ws --n 24 --concurrency 1,2,4 --url http://127.0.0.1:8000
    pipeline bench --openai http://127.0.0.1:8000 --openai http://127.0.0.1:8880 --n 10 --concurrency 1,2
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


async def _streamed(client, endpoint: str, body: dict) -> Sample:
    """One streamed POST: time to the first audio byte, total time, seconds of PCM16 received; a
    failed request is a data point, not a crash."""
    started = time.perf_counter()
    first = None
    size = 0
    try:
        async with client.stream("POST", endpoint, json=body) as r:
            if r.status_code != 200:
                await r.aread()
                return Sample(None, time.perf_counter() - started, 0.0, f"HTTP {r.status_code}")
            async for piece in r.aiter_bytes():
                if first is None and piece:
                    first = time.perf_counter() - started
                size += len(piece)
    except Exception as exc:
        return Sample(None, time.perf_counter() - started, 0.0, f"{type(exc).__name__}: {exc}")
    return Sample(first, time.perf_counter() - started, size / BYTES_PER_SECOND, None)


async def one_http(client, url: str, text: str, voice: str) -> Sample:
    return await _streamed(client, f"{url}/v1/audio/speech/stream", {"input": text, "voice": voice})


def openai_base(url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` -> the base the client appends /v1/... to."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


async def one_openai(client, url: str, text: str, voice: str) -> Sample:
    """One OpenAI-style streamed request (``stream: true``, raw PCM16 24 kHz)."""
    body = {"model": "kokoro", "input": text, "voice": voice, "response_format": "pcm", "stream": True}
    return await _streamed(client, f"{openai_base(url)}/v1/audio/speech", body)


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


async def _one(client, url: str, proto: str, text: str, voice: str, index: int) -> Sample:
    if proto == "ws":
        return await one_ws(url, text, voice, index)
    if proto == "openai":
        return await one_openai(client, url, text, voice)
    return await one_http(client, url, text, voice)


def summarize(concurrency: int, samples: list[Sample], wall: float) -> LevelResult:
    ok = [s for s in samples if s.error is None]
    ttfb = [s.ttfb_s for s in ok if s.ttfb_s is not None]
    totals = [s.total_s for s in ok]
    return LevelResult(
        concurrency=concurrency,
        n=len(samples),
        errors=len(samples) - len(ok),
        ttfb_p50=percentile(ttfb, 0.5),
        ttfb_p95=percentile(ttfb, 0.95),
        total_p50=percentile(totals, 0.5),
        total_p95=percentile(totals, 0.95),
        x_real_time=sum(s.audio_s for s in ok) / wall if wall else 0.0,
    )


async def run_level(url: str, proto: str, n: int, concurrency: int, text: str, voice: str) -> LevelResult:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=300) as client:

        async def task(i: int) -> Sample:
            async with gate:
                return await _one(client, url, proto, text, voice, i)

        started = time.perf_counter()
        samples = await asyncio.gather(*(task(i) for i in range(n)))
        wall = time.perf_counter() - started
    return summarize(concurrency, list(samples), wall)


async def run_interleaved(
    urls: list[str], n: int, concurrency: int, text: str, voice: str, proto: str = "openai"
) -> dict[str, LevelResult]:
    """``n`` requests per server in rounds of ``concurrency`` at once, the servers taking turns
    round by round; x-real-time is each server's audio over its own rounds' wall time."""
    import httpx

    samples: dict[str, list[Sample]] = {url: [] for url in urls}
    walls = dict.fromkeys(urls, 0.0)
    async with httpx.AsyncClient(timeout=300) as client:
        for start in range(0, n, concurrency):
            size = min(concurrency, n - start)
            for url in urls:
                began = time.perf_counter()
                batch = await asyncio.gather(*(_one(client, url, proto, text, voice, start + i) for i in range(size)))
                walls[url] += time.perf_counter() - began
                samples[url] += batch
    return {url: summarize(concurrency, samples[url], walls[url]) for url in urls}


def recommend(results: list[LevelResult], target_ttfb_s: float) -> int | None:
    """The highest concurrency with no errors whose p95 TTFB is within the target."""
    good = [r.concurrency for r in results if not r.errors and r.ttfb_p95 is not None and r.ttfb_p95 <= target_ttfb_s]
    return max(good) if good else None
