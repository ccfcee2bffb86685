"""``pipeline bench``: load-test a running ``pipeline serve``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from pipeline.commands.common import fail, out, setup_logging


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def compare(urls: list[str], n: int, levels: list[int], text: str, voice: str) -> None:
    """OpenAI-compatible servers side by side, interleaved, one table row per server and level."""
    from pipeline.bench import run_interleaved

    table = Table(title=f"pipeline bench --openai ({n} requests per server and level, interleaved)")
    for column in ("server", "concurrency", "ttfb p50 s", "ttfb p95 s", "total p50 s", "audio s per wall s", "errors"):
        table.add_column(column)
    for level in levels:
        results = asyncio.run(run_interleaved(urls, n, level, text, voice))
        for url, result in results.items():
            table.add_row(
                url,
                str(level),
                fmt(result.ttfb_p50),
                fmt(result.ttfb_p95),
                fmt(result.total_p50),
                f"{result.x_real_time:.2f}",
                str(result.errors),
            )
    out.print(table)


def bench(
    url: Annotated[str, typer.Option(help="Base URL of a running `pipeline serve`.")] = "http://127.0.0.1:8000",
    proto: Annotated[str, typer.Option(help="ws | http")] = "ws",
    n: Annotated[int, typer.Option(min=1, help="Requests per concurrency level.")] = 60,
    concurrency: Annotated[str, typer.Option(help="Comma-separated levels.")] = "1,2,4,8,12",
    target_ttfb: Annotated[float, typer.Option(help="p95 TTFB target in seconds for the recommendation.")] = 1.0,
    voice: Annotated[str, typer.Option(help="Voice for every request.")] = "af_heart",
    text: Annotated[str | None, typer.Option(help="Text of every request (default: an Alice sentence).")] = None,
    openai: Annotated[
        list[str] | None,
        typer.Option(
            help="An OpenAI-compatible server to drive (/v1/audio/speech, stream: true, pcm); repeat to compare "
            "servers side by side, interleaved round by round (--url and --proto are then not used)."
        ),
    ] = None,
) -> None:
    """p50/p95 TTFB, total latency, x-real-time and errors per concurrency; recommends MAX_CONCURRENT_JOBS."""
    setup_logging()
    from pipeline.bench import DEFAULT_TEXT, recommend, run_level

    if proto not in ("ws", "http"):
        fail("--proto must be ws or http")
    try:
        levels = [int(c) for c in concurrency.split(",") if c.strip()]
    except ValueError:
        fail(f"--concurrency {concurrency!r}: expected numbers like 1,2,4")
    if not levels or min(levels) < 1:
        fail("--concurrency needs levels >= 1")

    if openai:
        compare(openai, n, levels, text or DEFAULT_TEXT, voice)
        return
    results = []
    table = Table(title=f"pipeline bench ({proto}, {n} requests per level, {url})")
    for column in ("concurrency", "ttfb p50 s", "ttfb p95 s", "total p50 s", "total p95 s", "x real time", "errors"):
        table.add_column(column)
    for level in levels:
        result = asyncio.run(run_level(url, proto, n, level, text or DEFAULT_TEXT, voice))
        results.append(result)
        table.add_row(
            str(level),
            fmt(result.ttfb_p50),
            fmt(result.ttfb_p95),
            fmt(result.total_p50),
            fmt(result.total_p95),
            f"{result.x_real_time:.2f}",
            str(result.errors),
        )
    out.print(table)
    best = recommend(results, target_ttfb)
    if best is None:
        out.print(f"no level met p95 TTFB <= {target_ttfb} s without errors")
    else:
        out.print(f"recommended MAX_CONCURRENT_JOBS={best} (highest level with p95 TTFB <= {target_ttfb} s)")
