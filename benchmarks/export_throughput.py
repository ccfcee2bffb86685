"""Export throughput: ``export_dataset`` of N clips as ``hf`` (with splits) and ``nemo``.

Real speech: a few Alice sentences are synthesized once with the embedded Kokoro model; the
dataset is N copies of them, each made unique (its last two samples encode the copy's index,
so every file has its own sha256 and row), with generation + verdict rows upserted into a
scratch Postgres database the way the stages write them (4 voices, 250 texts x 4).

Usage::

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python benchmarks/export_throughput.py --clips 1000

Prints a markdown table for BENCHMARKS.md: wall seconds per format (selection + reading and
hashing every wav + writing + card), clips and audio seconds per wall second, bytes written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import soundfile as sf
from psycopg.conninfo import make_conninfo

from pipeline.export import SplitPlan, export_dataset
from pipeline.settings import Settings
from pipeline.store.store import Store
from pipeline.tts.backend import SAMPLE_RATE as SR
from pipeline.tts.engine import build_engine

SENTENCES = (
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Oh dear! Oh dear! I shall be late!",
    "Down, down, down. Would the fall never come to an end?",
    "Curiouser and curiouser! cried Alice.",
)
VOICES = ("af_heart", "am_michael", "af_bella", "bm_george")


def synthesize() -> list[np.ndarray]:
    engine = build_engine(Settings())
    engine.setup()
    clips = []
    for sentence in SENTENCES:
        audio = engine.synthesize_text(sentence, voice="af_heart").audio
        clips.append(np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16))
    return clips


def build_dataset(store: Store, datasets_dir: Path, clips: list[np.ndarray], n: int) -> float:
    generation, verdicts, seconds = [], [], 0.0
    for i in range(n):
        samples = clips[i % len(clips)].copy()
        samples[-2:] = [i % 30000, i // 30000]  # a unique file per row
        voice = VOICES[i % len(VOICES)]
        text_index = i // len(VOICES)
        rel = f"alice/{voice}/chunk_{text_index:05d}.wav"
        buffer = io.BytesIO()
        sf.write(buffer, samples, SR, subtype="PCM_16", format="WAV")
        target = datasets_dir / "bench" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.getvalue())
        file_hash = hashlib.sha256(buffer.getvalue()).hexdigest()
        text = f"{SENTENCES[text_index % len(SENTENCES)]} ({text_index})"
        duration = samples.size / SR
        seconds += duration
        key = {"file_hash": file_hash, "dataset": "bench"}
        generation.append(
            key
            | {"path": rel, "text": text, "book": "alice", "chapter_index": 1 + text_index // 25}
            | {"chunk_index": text_index, "voice": voice, "voice_recipe": voice, "speed": 1.0}
            | {"duration_s": duration, "sample_rate": SR, "tts_engine": "kokoro-onnx"}
        )
        verdicts.append(key | {"keep": True, "tier": "strict", "adjusted_wer": 0.0, "n_words": len(text.split())})
    store.upsert("generation", generation)
    store.upsert("verdicts", verdicts)
    return seconds


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1000)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"export_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        store = Store(make_conninfo(server, dbname=name))
        with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
            root = Path(tmp)
            audio_s = build_dataset(store, root / "datasets", synthesize(), args.clips)
            print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {args.clips} clips,"
                  f" {audio_s:.1f} s of audio ({folder_bytes(root / 'datasets') / 1e6:.1f} MB of wavs)")  # fmt: skip
            print("\n| format | options | clips | wall s | clips / s | audio s / wall s | MB written |")
            print("|---|---|---|---|---|---|---|")
            runs = [
                ("hf", {}, "single split"),
                ("hf", {"split_plan": SplitPlan.parse("0.9,0.05,0.05")}, "--splits 0.9,0.05,0.05"),
                ("nemo", {}, "single split"),
                ("nemo", {"split_plan": SplitPlan.parse("0.9,0.05,0.05")}, "--splits 0.9,0.05,0.05"),
            ]
            for index, (fmt, options, label) in enumerate(runs):
                out = root / f"out-{index}"
                start = time.perf_counter()
                report = export_dataset(store, dataset="bench", where="keep", out_dir=out, fmt=fmt, columns=None,
                                        datasets_dir=root / "datasets", **options)  # fmt: skip
                wall = time.perf_counter() - start
                print(
                    f"| {fmt} | {label} | {report.rows} | {wall:.1f} | {report.rows / wall:.0f} |"
                    f" {report.audio_s / wall:.0f} | {folder_bytes(out) / 1e6:.0f} |"
                )
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
