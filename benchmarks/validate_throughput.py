"""Validation throughput per engine mode, side by side in one run, on the same clips.

    python benchmarks/validate_throughput.py work/datasets/main [--primary whisper --secondary whisper-tiny]
        [--modes primary both cascade] [--asr-workers 2] [--repeats on off]

Runs ``primary``, ``both`` and ``cascade`` (batch mode, models loaded per mode as a real run
would) over the clips of a generated dataset and prints audio seconds per wall second, the
number of escalated clips and the cascade's saving against ``both``. With ``--asr-workers N``
each mode also runs with its transcription stages on N spawned worker processes, one
single-threaded engine each (what ``pipeline validate`` does for Whisper on a CPU), right after
the in-process run. ``--repeats on off`` runs each mode with and without the Whisper engines'
forced repeat check (``PIPELINE_CHECK_REPEATS``), one after the other, to price it. Nothing is
stored.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from judges.registry import build_asr
from pipeline.jobs.validate import run_validation
from pipeline.runner import LocalRunner
from pipeline.settings import Settings
from pipeline.sources import discover
from verdicts import Thresholds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--primary", default="whisper")
    parser.add_argument("--secondary", default="whisper-tiny")
    parser.add_argument("--modes", nargs="+", default=["primary", "both", "cascade"])
    parser.add_argument("--asr-workers", type=int, default=1, help="Also run each mode on N ASR worker processes.")
    parser.add_argument(
        "--repeats", nargs="+", default=["on"], choices=["on", "off"], help="forced repeat check on, off or both"
    )
    args = parser.parse_args()

    settings = Settings()
    clips, _ = discover(args.source, "bench", settings.work_dir / "validate_cache" / "bench")
    rows = []
    for engines, repeats in ((m, r) for m in args.modes for r in args.repeats):
        for workers in sorted({1, args.asr_workers}):
            threads = settings.asr_threads if workers == 1 else max(1, (os.cpu_count() or 1) // workers)
            engine_settings = settings.model_copy(update={"asr_threads": threads, "check_repeats": repeats == "on"})
            report = run_validation(
                clips,
                primary=build_asr(args.primary, engine_settings),
                secondary=build_asr(args.secondary, engine_settings),
                engines=engines,
                mode="batch",
                thresholds=Thresholds(),
                asr_runner=LocalRunner(workers) if workers > 1 else None,
            )
            escalated = sum(1 for r in report.results if r.escalated)
            label = engines if workers == 1 else f"{engines}, {workers} ASR worker processes x {threads} thread"
            label += "" if args.repeats == ["on"] else f", repeat check {repeats}"
            rows.append((label, report.audio_s, report.wall_s, escalated))

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"\n{len(clips)} clips from {args.source}, {args.primary} + {args.secondary}, {machine}\n")
    print("| engines | audio s | wall s | audio s / wall s | escalated clips |")
    print("|---|---|---|---|---|")
    for engines, audio, wall, escalated in rows:
        print(f"| {engines} | {audio:.1f} | {wall:.1f} | {audio / wall:.2f} | {escalated} |")
    walls = {label: wall for label, _, wall, _ in rows}
    if "both" in walls and "cascade" in walls:
        print(f"\ncascade saves {1 - walls['cascade'] / walls['both']:.0%} of the wall time of `both`")


if __name__ == "__main__":
    main()
