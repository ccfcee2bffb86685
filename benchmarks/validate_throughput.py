"""Validation throughput per engine mode, side by side in one run, on the same clips.

    python benchmarks/validate_throughput.py work/datasets/main [--primary whisper --secondary whisper-tiny]

Runs ``primary``, ``both`` and ``cascade`` (batch mode, models loaded per mode as a real run
would) over the clips of a generated dataset and prints audio seconds per wall second, the
number of escalated clips and the cascade's saving against ``both``. Nothing is stored.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from judges.registry import build_asr
from pipeline.settings import Settings
from pipeline.sources import discover
from pipeline.validate import run_validation
from verdicts import Thresholds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--primary", default="whisper")
    parser.add_argument("--secondary", default="whisper-tiny")
    args = parser.parse_args()

    settings = Settings()
    clips, _ = discover(args.source, "bench", settings.work_dir / "validate_cache" / "bench")
    rows = []
    for engines in ("primary", "both", "cascade"):
        report = run_validation(
            clips,
            primary=build_asr(args.primary, settings),
            secondary=build_asr(args.secondary, settings),
            engines=engines,
            mode="batch",
            thresholds=Thresholds(),
        )
        escalated = sum(1 for r in report.results if r.escalated)
        rows.append((engines, report.audio_s, report.wall_s, escalated))

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"\n{len(clips)} clips from {args.source}, {args.primary} + {args.secondary}, {machine}\n")
    print("| engines | audio s | wall s | audio s / wall s | escalated clips |")
    print("|---|---|---|---|---|")
    for engines, audio, wall, escalated in rows:
        print(f"| {engines} | {audio:.1f} | {wall:.1f} | {audio / wall:.2f} | {escalated} |")
    both_wall = rows[1][2]
    cascade_wall = rows[2][2]
    print(f"\ncascade saves {1 - cascade_wall / both_wall:.0%} of the wall time of `both`")


if __name__ == "__main__":
    main()
