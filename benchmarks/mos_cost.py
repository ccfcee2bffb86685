"""MOS judge cost and what ``--mos-mode sample`` saves, side by side in one run, on the same clips.

Usage::

    python benchmarks/mos_cost.py                                  # generates Alice chapter 1 first
    python benchmarks/mos_cost.py --dataset-dir work/datasets/main # reuse a generated dataset
    python benchmarks/mos_cost.py --book data/books/alice.txt --chapters 1 --sample-rate 0.1 --seed 0

Without ``--dataset-dir`` the clips are generated with the CLI into a temporary work dir
(``pipeline generate --book B --chapters C --no-db --work-dir <tmp>``: Kokoro, the embedded
int8 ONNX model; ~4 min for chapter 1 on 2 CPU cores) and deleted afterwards (``--keep`` keeps
them). Two parts, both over the same clips in the same process:

1. **Per judge** (the embedded judges, DNSMOS and DistillMOS, built by ``build_mos_judges`` as
   validate builds them): load time (``setup()``, first load in the process, imports included),
   one warm-up clip (not counted), then every clip through the judge's own ``judge_batch`` (via
   ``pipeline.jobs.validate.score_with_judges``); milliseconds of wall time per audio second.
2. **Per mode** (``all``, ``sample`` at ``--sample-rate``/``--seed``, ``none``): the MOS step of a
   local batch validate run, with the project's own functions: ``MOSPlan.sampled`` +
   ``pipeline.stages.quality.wants_mos`` (``select_for_mos``) choose the clips, ``score_with_judges``
   maps each judge as a stage in turn (set up, run, torn down) (load included, as in a real run);
   then ``with_quality`` adds the signal metrics (every clip, in every mode) and the MOS columns.
   Clips carry no ASR verdicts here, which ``all``/``sample``/``none`` do not look at.

Prints markdown tables with the machine description. Nothing is stored.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import soundfile as sf

from judges.mos import build_mos_judges
from pipeline.jobs.validate import score_with_judges
from pipeline.records import ClipResult
from pipeline.runner import LocalRunner
from pipeline.settings import Settings
from pipeline.sources import ClipSource, discover
from pipeline.stages.quality import MOSPlan, mos_item, wants_mos, with_quality
from verdicts import Thresholds

MODES = ("all", "sample", "none")


def generate(book: Path, chapters: str, work_dir: Path) -> Path:
    """Kokoro clips of ``book``/``chapters`` with the CLI (embedded default), no database."""
    exe = Path(sys.executable).with_name("pipeline")
    cmd = [str(exe)] if exe.exists() else [shutil.which("pipeline") or "pipeline"]
    cmd += ["generate", "--book", str(book), "--chapters", chapters, "--no-db", "--work-dir", str(work_dir)]
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)
    return work_dir / "datasets" / "main"


def machine_description() -> str:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "GPU unknown"
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {ram:.0f} GiB RAM, {gpu}, {platform.system()}"


def bare_result(clip: ClipSource) -> ClipResult:
    """A clip as the quality step sees it, without ASR (no verdicts, no error)."""
    return ClipResult(clip, None, None, False, None, None, None)


def judge_cost(names: list[str], settings: Settings, clips: list[ClipSource], audio_s: float) -> list[tuple]:
    """Per judge: (name, load s, warm-up s, scoring wall s, sum of per-clip ms, errors)."""
    judges, skipped = build_mos_judges(names, settings)
    for reason in skipped.values():
        print(f"skipped: {reason}")
    items = [mos_item(bare_result(c)) for c in clips]
    shortest = min(items, key=lambda item: sf.info(item.audio_path).duration)
    rows = []
    for judge in judges:
        started = time.perf_counter()
        judge.setup()
        load_s = time.perf_counter() - started
        try:
            started = time.perf_counter()
            judge.judge_batch([shortest])
            warm_s = time.perf_counter() - started
            started = time.perf_counter()
            scores = {item.key: [s] for item, s in zip(items, judge.judge_batch(items), strict=True)}
            wall_s = time.perf_counter() - started
        finally:
            judge.teardown()
        flat = [s for per_clip in scores.values() for s in per_clip]
        clip_ms = sum(s.ms for s in flat)
        errors = sum(1 for s in flat if s.error is not None)
        rows.append((judge.info.name, load_s, warm_s, wall_s, clip_ms, errors))
        print(f"{judge.info.name}: load {load_s:.2f} s, {wall_s * 1000 / audio_s:.1f} ms per audio s", flush=True)
    return rows


def mos_step(mode: str, names: list[str], settings: Settings, clips: list[ClipSource], rate: float, seed: int):
    """The local batch validate MOS step for ``mode``: (clips scored, audio s scored, MOS step s,
    quality step s = MOS step + signal metrics + MOS columns for every clip)."""
    judges, _ = build_mos_judges(names, settings) if mode != "none" else ([], {})
    plan = MOSPlan(mode, rate, seed, tuple(judges))
    combined = [bare_result(c) for c in clips]
    thresholds = Thresholds()
    started = time.perf_counter()
    sampled = plan.sampled([c.file_hash for c in clips])
    chosen = [mos_item(r) for r in combined if wants_mos(r, plan, sampled)]
    scores = score_with_judges(LocalRunner(1), plan.judges, chosen)
    mos_s = time.perf_counter() - started
    finished = [with_quality(r, scores.get(r.clip.file_hash), plan, thresholds) for r in combined]
    quality_s = time.perf_counter() - started
    scored = {item.key for item in chosen}
    audio_scored = sum(r.duration_s or 0.0 for r in finished if r.clip.file_hash in scored)
    assert sum(1 for r in finished if r.mos) == len(chosen)
    print(f"mode {mode}: {len(chosen)} clips, MOS step {mos_s:.1f} s", flush=True)
    return len(chosen), audio_scored, mos_s, quality_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-dir", type=Path, help="a generated dataset (manifest.jsonl) or wav+txt folder")
    parser.add_argument("--book", type=Path, default=Path("data/books/alice.txt"))
    parser.add_argument("--chapters", default="1")
    parser.add_argument("--judges", nargs="+", default=["dnsmos", "distillmos"])
    parser.add_argument("--sample-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the generated clips (prints where)")
    args = parser.parse_args()

    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="mos-cost-"))
    try:
        source = args.dataset_dir or generate(args.book, args.chapters, tmp / "work")
        clips, _ = discover(source, "bench", tmp / "validate_cache")
        clips = [c for c in clips if c.problem is None]
        if not clips:
            raise SystemExit(f"{source}: no clips")
        audio_s = sum(sf.info(c.audio_path).duration for c in clips)

        costs = judge_cost(args.judges, settings, clips, audio_s)
        modes = {mode: mos_step(mode, args.judges, settings, clips, args.sample_rate, args.seed) for mode in MODES}
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{len(clips)} clips, {audio_s:.1f} s of audio, from {source}")
    print(f"machine: {machine_description()}; {date.today().isoformat()}\n")
    print("| judge | load s | warm-up s | wall s | ms per audio s (wall) | ms per audio s (`mos_ms`) | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, load_s, warm_s, wall_s, clip_ms, errors in costs:
        per_s = wall_s * 1000 / audio_s
        cells = f"{load_s:.2f} | {warm_s:.2f} | {wall_s:.1f} | {per_s:.1f} | {clip_ms / audio_s:.1f} | {errors}"
        print(f"| {name} | {cells} |")
    print()
    print("| --mos-mode | clips scored | audio s scored | MOS step wall s | + signal metrics, wall s |")
    print("|---|---|---|---|---|")
    for mode, (n, scored_s, mos_s, quality_s) in modes.items():
        label = f"sample (rate {args.sample_rate}, seed {args.seed})" if mode == "sample" else mode
        print(f"| {label} | {n} | {scored_s:.1f} | {mos_s:.1f} | {quality_s:.1f} |")
    all_s, sample_s = modes["all"][2], modes["sample"][2]
    print(f"\nsample saves {all_s - sample_s:.1f} s = {1 - sample_s / all_s:.0%} of the MOS step of `all`")


if __name__ == "__main__":
    main()
