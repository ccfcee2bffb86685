"""Detection benchmark (fault injection): does ``pipeline validate`` catch what Kokoro got wrong?

    python benchmarks/detection.py data/books/alice.txt data/books/sherlock_scandal.txt [--seed 0]
        [--per-fault 20] [--clean 100] [--voices af_heart am_michael bf_emma bm_george]
        [--cascade] [--db] [--reuse | --rescore] [--out DIR]

Builds a set from real passages of the books (the project's chunker): clean clips (label = the
book's words, audio synthesized from them) and faulty clips whose audio is synthesized from an
edited text, or with one word's phonemes replaced, while the label keeps the book's words:
substitution, deletion, insertion, repetition of a word and of a two-word phrase, truncation,
adjacent swap, a heteronym read the other way, a word spelled out letter by letter
(``benchmarks/faultset/faults.py``). The clips are a normal dataset dir under
``<work>/datasets/<set name>/`` (wav + txt + manifest.jsonl + faults.json), synthesized with the
project's engine and synthesize stage on the embedded ONNX backend, then checked by the real
``pipeline validate`` (library ``pipeline.jobs.validate``) with ``--engines both`` and
``--mos-mode none``; the results log ``<work>/validations/<set name>.jsonl`` is the source of the
per-word verdicts. ``--cascade`` also runs ``--engines cascade`` (its own results log) for the
escalation rate.

Reruns: audio is cached by content id, so after a rule change a rerun only re-validates;
``--reuse`` insists on that (no G2P, no synthesis: the set must be built); ``--rescore`` only
re-reads the stored results (no model at all). Writes ``report.md`` and ``report.json`` (every
clip: its fault, the words it touches, the edited text, voice, verdict rows) to ``--out``
(default ``<work>/detection/<set name>/``) and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from faultset.build import DEFAULT_VOICES, Phonemizers, SetConfig, load_passages, plan_set, read_specs, synthesize_set
from faultset.faults import FAULT_KINDS, FaultKind
from faultset.report import machine, markdown, write_json
from faultset.score import entries_for, kinds_in_order, score_set, summarize

from pipeline.choices import EngineMode, MosMode
from pipeline.jobs import JobError, ValidateRequest, validate
from pipeline.settings import Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("books", type=Path, nargs="+", help="plain-text public-domain books")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-fault", type=int, default=20, help="clips per fault type")
    parser.add_argument("--clean", type=int, default=100, help="clean clips")
    parser.add_argument("--voices", nargs="+", default=list(DEFAULT_VOICES))
    parser.add_argument(
        "--kinds", nargs="+", default=[k.value for k in FAULT_KINDS], choices=[k.value for k in FAULT_KINDS]
    )
    parser.add_argument("--target-seconds", type=float, default=10.0, help="chunker target for passages")
    parser.add_argument("--workers", type=int, default=0, help="synthesis processes (0 = one per core)")
    parser.add_argument("--cascade", action="store_true", help="also validate with --engines cascade")
    parser.add_argument("--db", action="store_true", help="also write rows to the configured Postgres")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--reuse", action="store_true", help="use the built set as it is; only re-validate")
    reuse.add_argument("--rescore", action="store_true", help="only re-read the stored validate results")
    parser.add_argument("--out", type=Path, help="report folder (default <work>/detection/<set name>)")
    return parser.parse_args(argv)


def build(config: SetConfig, settings: Settings, workers: int):
    started = time.perf_counter()
    phon = Phonemizers()
    passages = load_passages(config.books, phon.g2p("a"), config.target_seconds)
    specs = plan_set(config, phon, passages)
    logging.info("planned %d clips in %.0f s", len(specs), time.perf_counter() - started)
    result = synthesize_set(specs, settings.datasets_dir / config.name, settings, workers or os.cpu_count() or 1)
    logging.info("synthesized %d new clips in %.0f s", result.synthesized, result.wall_s)
    if result.failures:
        raise SystemExit(f"{len(result.failures)} clip(s) failed to synthesize: {result.failures[:3]}")
    return result.specs


def run_validate(dataset_dir: Path, name: str, engines: EngineMode, settings: Settings, db: bool) -> float:
    started = time.perf_counter()
    validate(ValidateRequest(source=dataset_dir, dataset=name, engines=engines, db=db), settings)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    missing = [str(b) for b in args.books if not b.is_file()]
    if missing:
        raise SystemExit(f"no such book: {', '.join(missing)}")
    config = SetConfig(
        books=tuple(args.books), seed=args.seed, per_fault=args.per_fault, clean=args.clean,
        voices=tuple(args.voices), target_seconds=args.target_seconds, kinds=tuple(FaultKind(k) for k in args.kinds),
    )  # fmt: skip
    settings = Settings().model_copy(update={"mos_mode": MosMode.none, "tts_backend": "onnx"})
    dataset_dir = settings.datasets_dir / config.name
    logs = settings.work_dir / "validations"
    cascade_name = f"{config.name}-cascade"
    walls = {}
    try:
        specs = read_specs(dataset_dir) if args.reuse or args.rescore else build(config, settings, args.workers)
        if not args.rescore:
            walls["both"] = run_validate(dataset_dir, config.name, EngineMode.both, settings, args.db)
            if args.cascade:
                walls["cascade"] = run_validate(dataset_dir, cascade_name, EngineMode.cascade, settings, args.db)
    except (JobError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(str(exc)) from exc

    entries = entries_for(specs, dataset_dir, logs / f"{config.name}.jsonl")
    cascade_log = logs / f"{cascade_name}.jsonl"
    cascades = entries_for(specs, dataset_dir, cascade_log) if (args.cascade or cascade_log.is_file()) else None
    outcomes = score_set(specs, entries, cascades)
    summaries = summarize(outcomes, kinds_in_order(outcomes))
    durations = [o.duration_s for o in outcomes if o.duration_s]
    first = next(iter(entries.values()), {"groups": {}})["groups"]
    context = {
        "dataset": config.name,
        "dataset_dir": str(dataset_dir),
        "books": [str(b) for b in config.books],
        "voices": list(config.voices),
        "seed": config.seed,
        "command": "python benchmarks/detection.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "engines": " + ".join(
            f"{g.get(f'{r}_engine')} ({g.get(f'{r}_model')})" for r in ("primary", "secondary") if (g := first.get(r))
        ),
        "audio_s": sum(durations),
        "min_s": min(durations, default=0.0),
        "max_s": max(durations, default=0.0),
        "validate_wall_s": ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()) or "not run (rescore)",
    }
    out = args.out or settings.work_dir / "detection" / config.name
    words = {clip: entry.get("words", []) for clip, entry in entries.items()}
    write_json(out / "report.json", summaries, specs, outcomes, context, words)
    text = markdown(summaries, specs, outcomes, context)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    print(json.dumps({"report": str(out / "report.md"), "json": str(out / "report.json")}))


if __name__ == "__main__":
    main()
