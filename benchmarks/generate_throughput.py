"""Generation throughput, side by side in one run, on the same model, voice and chunks.

Variants (audio seconds per wall second, higher is better):

* ``plain loop``: the way kokoro-onnx / ``KPipeline`` users run it: one onnxruntime session
  with its default threading, one chunk at a time.
* ``1 process x 2 threads``: ``pipeline generate`` machinery, one worker, 2 intra-op threads.
* ``2 processes x 1 thread``: ``pipeline generate`` default on a 2-core box.

Usage::

    python benchmarks/generate_throughput.py --chunks 16 [--book data/books/alice.txt]

Prints a table and a markdown row block for BENCHMARKS.md. Model load time is excluded from
the plain loop and included for the pipeline variants (they pay it per worker), which is
conservative for the pipeline.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.chunking import chunk_book
from pipeline.ingest import read_book
from pipeline.jobs.generate import run_generation
from pipeline.manifest import Manifest
from pipeline.runner import LocalRunner
from pipeline.settings import Settings
from pipeline.stages.base import Resources
from pipeline.stages.synthesize import SynthesizeStage, plan_jobs
from pipeline.tts.backend import SAMPLE_RATE, phonemes_to_ids, style_for
from pipeline.tts.engine import build_engine, engine_fingerprint
from pipeline.tts.g2p import G2P


def plain_loop(model_path: Path, pack: np.ndarray, phoneme_list: list[str]) -> tuple[float, float]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    samples = 0
    for phonemes in phoneme_list:
        feeds = {
            "tokens": np.asarray([phonemes_to_ids(phonemes)], dtype=np.int64),
            "style": style_for(pack, phonemes),
            "speed": np.asarray([1.0], dtype=np.float32),
        }
        samples += session.run(None, feeds)[0].size
    return samples / SAMPLE_RATE, time.perf_counter() - started


def pipeline_run(settings: Settings, chunks, voice: str, workers: int, threads: int) -> tuple[float, float]:
    settings = settings.model_copy(update={"workers": workers, "threads_per_worker": threads})
    engine = build_engine(settings)
    resolved = engine.resolve_voice(voice)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        jobs = plan_jobs(
            chunks,
            [(voice, resolved)],
            dataset="bench",
            speed=1.0,
            seed=0,
            fingerprint=engine_fingerprint(settings),
        )
        stage = SynthesizeStage(engine, {resolved.canonical: resolved}, Path(tmp), Resources(cpus=threads))
        started = time.perf_counter()
        report = run_generation(
            stage, jobs, Manifest(Path(tmp) / "manifest.jsonl"), runner=LocalRunner(workers), batch_size=1
        )
        wall = time.perf_counter() - started
    assert not report.failures, report.failures
    return report.audio_s, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", type=Path, default=Path("data/books/alice.txt"))
    parser.add_argument("--chapter", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--voice", default="af_heart")
    args = parser.parse_args()

    settings = Settings()
    g2p = G2P(settings.lang_code)
    g2p.setup()
    chunks = chunk_book(read_book(args.book), g2p, chapters={args.chapter})
    chunks = [c for c in chunks if c.kind == "text"][: args.chunks]
    engine = build_engine(settings)
    pack = engine.resolve_voice(args.voice).pack
    model_path = engine.backend.model_path

    results = []
    audio, wall = plain_loop(model_path, pack, [c.phonemes for c in chunks])
    results.append(("plain loop (1 session, ORT default threads)", audio, wall))
    audio, wall = pipeline_run(settings, chunks, args.voice, workers=1, threads=2)
    results.append(("pipeline: 1 process x 2 threads", audio, wall))
    audio, wall = pipeline_run(settings, chunks, args.voice, workers=2, threads=1)
    results.append(("pipeline: 2 processes x 1 thread", audio, wall))

    baseline = results[0][1] / results[0][2]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    print(f"\n{len(chunks)} chunks of chapter {args.chapter}, voice {args.voice}, machine: {machine}\n")
    print("| variant | audio s | wall s | audio s / wall s | vs plain loop |")
    print("|---|---|---|---|---|")
    for name, audio, wall in results:
        print(f"| {name} | {audio:.1f} | {wall:.1f} | {audio / wall:.2f} | {audio / wall / baseline:.2f}x |")


if __name__ == "__main__":
    main()
