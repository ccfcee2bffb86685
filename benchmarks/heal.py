"""Heal benchmark: how much of a book does ``pipeline heal`` recover, at what cost?

    python benchmarks/heal.py data/books/alice.txt [--chapters 1] [--voices af_heart bf_emma]
        [--faults 6] [--seed 0] [--engines cascade] [--max-attempts 6] [--dataset NAME] [--out DIR]

One run: ``generate`` the chapters with each voice (embedded int8 ONNX), optionally replace the
audio of ``--faults`` seeded chunks with speech of an edited text (the text faults of
``benchmarks/detection.py``: substitution, deletion, insertion, repetitions, truncation, swap;
the label keeps the book's words), ``validate`` (``--engines``, MOS off), then ``heal``. Reports
coverage before and after (chunks x voices covered by a kept selected clip, hours kept), the
attempts spent per healed chunk, what became of every injected fault (healed into a kept clip,
or in the reject pile with its reasons), and the wall time of each phase, to ``report.md`` and
``report.json`` in ``--out`` (default ``<work>/heal_bench/<dataset>/``).

All three jobs are the library calls the CLI makes (``pipeline.jobs``), with rows in the
configured Postgres (DATABASE_URL or the embedded server). Reruns are cheap: generate skips
clips it made, faults are injected once (``faults.json`` in the dataset dir), heal continues.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import soundfile as sf
from faultset.build import Passage, Phonemizers, lang_for, speak_text, vocabulary
from faultset.faults import G2P_FAULTS, INJECTORS
from faultset.report import machine

from pipeline.choices import EngineMode, MosMode
from pipeline.heal.ladder import DEFAULT_MAX_ATTEMPTS
from pipeline.jobs import GenerateRequest, JobError, ValidateRequest, generate, validate
from pipeline.jobs.heal import HealRequest, heal
from pipeline.manifest import Manifest
from pipeline.records import AudioRecord
from pipeline.settings import Settings

TEXT_FAULTS = tuple(k for k in INJECTORS if k not in G2P_FAULTS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("book", type=Path)
    parser.add_argument("--chapters", default="1")
    parser.add_argument("--voices", nargs="+", default=["af_heart"])
    parser.add_argument("--faults", type=int, default=0, help="chunks per voice whose audio is made faulty")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", choices=[e.value for e in EngineMode], default=EngineMode.cascade.value)
    parser.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS)
    parser.add_argument("--workers", type=int, default=0, help="synthesis processes (0 = one per core)")
    parser.add_argument("--dataset", help="dataset name (default heal-bench-<book>-<chapters>)")
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def inject_faults(dataset_dir: Path, settings: Settings, per_voice: int, seed: int) -> list[dict]:
    """Replace the audio of ``per_voice`` seeded text chunks per voice with speech of an edited
    text (once: the plan is kept in ``faults.json``)."""
    plan_path = dataset_dir / "faults.json"
    if plan_path.is_file():
        return json.loads(plan_path.read_text(encoding="utf-8"))
    from pipeline.tts.engine import build_engine

    manifest = Manifest.for_dataset(dataset_dir)
    records = sorted(manifest.records(), key=lambda r: (r.voice, r.chunk_index))
    rng = random.Random(seed)
    phon = Phonemizers()
    engine = build_engine(settings)
    engine.setup()
    planned: list[dict] = []
    changed: list[AudioRecord] = []
    for voice in sorted({r.voice for r in records}):
        mine = [r for r in records if r.voice == voice and r.kind == "text" and len(r.text.split()) >= 10]
        phonetics = phon.phonetics(lang_for(voice))
        vocab = vocabulary([Passage(r.book_id, r.chunk_index, r.chapter_index, "", r.text) for r in mine], phonetics)
        for i, record in enumerate(rng.sample(mine, min(per_voice, len(mine)))):
            kind = TEXT_FAULTS[i % len(TEXT_FAULTS)]
            fault = INJECTORS[kind](record.text.split(), rng, phonetics, vocab)
            if fault is None:
                continue
            edited = speak_text(fault.edited, fault.overrides)
            sf.write(dataset_dir / record.wav_path, engine.synthesize_text(edited, voice=voice).audio, 24_000)
            digest = hashlib.sha256((dataset_dir / record.wav_path).read_bytes()).hexdigest()
            changed.append(replace(record, file_hash=digest))
            planned.append({"voice": voice, "chunk_index": record.chunk_index, "kind": kind.value, "edited": edited})
    engine.teardown()
    manifest.append(changed)
    plan_path.write_text(json.dumps(planned, indent=1, ensure_ascii=False), encoding="utf-8")
    return planned


def fault_outcomes(faults: list[dict], report, book_id: str) -> list[dict]:
    rejects = set(report.rejects)
    healed = set(report.healed)
    out = []
    for fault in faults:
        key = (book_id, fault["voice"], fault["chunk_index"])
        outcome = "healed" if key in healed else "reject pile" if key in rejects else "kept before heal"
        out.append({**fault, "outcome": outcome})
    return out


def attempts_per_chunk(settings: Settings, dataset: str, keys) -> float:
    """Mean re-syntheses stored for the given (book, voice, chunk) keys (0 when none)."""
    from pipeline.heal.state import by_group, load_clips
    from pipeline.store.store import Store

    if not keys:
        return 0.0
    groups = by_group(load_clips(Store.from_settings(settings), dataset))
    spent = [len({r.attempt for r in groups[key] if r.attempt > 0 and r.heal_step != "candidate"}) for key in keys]
    return sum(spent) / len(spent)


def markdown(context: dict, report, outcomes: list[dict], attempts_per_healed: float) -> str:
    b, a = report.before, report.after
    lines = [
        f"# Heal benchmark: {context['dataset']}",
        "",
        f"`{context['command']}`",
        "",
        f"Machine: {', '.join(f'{k} {v}' for k, v in context['machine'].items())}.",
        f"Engines: {context['engines']}; MOS off; voices {', '.join(context['voices'])}.",
        "",
        "| | chunks x voices | covered by a kept clip | coverage | hours kept |",
        "|---|---|---|---|---|",
        f"| before heal | {b.chunks} | {b.covered} | {b.share:.1%} | {b.hours_kept:.3f} |",
        f"| after heal | {a.chunks} | {a.covered} | {a.share:.1%} | {a.hours_kept:.3f} |",
        "",
        f"Healed {len(report.healed)} chunk(s); {len(report.rejects)} in the reject pile; "
        f"{a.attempts} attempt(s) stored ({report.attempts_made} made in this run, {report.rounds} rounds); "
        f"attempts per healed chunk {attempts_per_healed:.2f}.",
        "",
        "Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in context["wall_s"].items()) + ".",
    ]
    if outcomes:
        lines += ["", "| voice | chunk | injected fault | outcome |", "|---|---|---|---|"]
        lines += [f"| {o['voice']} | {o['chunk_index']} | {o['kind']} | {o['outcome']} |" for o in outcomes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.book.is_file():
        raise SystemExit(f"no such book: {args.book}")
    dataset = args.dataset or f"heal-bench-{args.book.stem}-{args.chapters.replace(',', '_')}"
    settings = Settings().model_copy(
        update={"mos_mode": MosMode.none, "tts_backend": "onnx", "voices": args.voices, "workers": args.workers}
    )
    dataset_dir = settings.datasets_dir / dataset
    walls: dict[str, float] = {}
    try:
        started = time.perf_counter()
        generated = generate(GenerateRequest(book=args.book, dataset=dataset, chapters=args.chapters), settings)
        walls["generate"] = time.perf_counter() - started
        faults = inject_faults(dataset_dir, settings, args.faults, args.seed) if args.faults else []
        started = time.perf_counter()
        validated = validate(ValidateRequest(source=dataset_dir, dataset=dataset, engines=args.engines), settings)
        walls["validate"] = time.perf_counter() - started
        started = time.perf_counter()
        report = heal(HealRequest(dataset=dataset, engines=args.engines, max_attempts=args.max_attempts), settings)
        walls["heal"] = time.perf_counter() - started
    except JobError as exc:
        raise SystemExit(str(exc)) from exc
    book_id = next(iter(Manifest.for_dataset(dataset_dir).records())).book_id
    outcomes = fault_outcomes(faults, report, book_id)
    attempts_per_healed = attempts_per_chunk(settings, dataset, report.healed)
    context = {
        "dataset": dataset,
        "command": "python benchmarks/heal.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "engines": ", ".join(f"{k}: {v}" for k, v in validated.engines.items()),
        "voices": args.voices,
        "wall_s": walls,
        "generated_clips": len(generated.written),
    }
    out = args.out or settings.work_dir / "heal_bench" / dataset
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(context, report, outcomes, attempts_per_healed)
    (out / "report.md").write_text(text, encoding="utf-8")
    summary = {
        "context": context,
        "before": asdict(report.before),
        "after": asdict(report.after),
        "healed": report.healed,
        "rejects": report.rejects,
        "attempts_made": report.attempts_made,
        "rounds": report.rounds,
        "attempts_per_healed_chunk": attempts_per_healed,
        "faults": outcomes,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
