"""Batched vs one-at-a-time Kokoro synthesis on the torch backend, side by side in one run, on
the same model (the checkpoint rebuilt from the embedded int8 ONNX unless ``--model`` says
otherwise), voice and chunks of ``alice.txt``.

Variants (audio seconds per wall second, higher is better):

* ``sequential``: ``KokoroTorchBackend.synthesize`` one chunk at a time (stock ``KModel``).
* ``batched B=n``: ``synthesize_batch`` over length-sorted groups of at most ``n`` chunks
  (``batched.plan_batches``: a group closes at ``n`` items or longest/shortest > 1.5).
* ``2 processes x 1 thread`` (CPU only, ``--processes``): two spawned workers, each with its own
  model running one chunk at a time; model loading is excluded (timed after a warm-up call).

Usage::

    python benchmarks/batched_synthesis.py --chunks 12 --target-seconds 5 [--device cuda] [--processes]

Every variant gets a warm-up call first; timings exclude model loading.  Prints a markdown
table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from pathlib import Path

import numpy as np

from pipeline.chunking import chunk_book
from pipeline.ingest import read_book
from pipeline.settings import Settings
from pipeline.tts.backend import SAMPLE_RATE, SynthesisRequest
from pipeline.tts.batched import plan_batches
from pipeline.tts.engine import build_voice_store, torch_model
from pipeline.tts.g2p import G2P
from pipeline.tts.torch_backend import KokoroTorchBackend

_WORKER: KokoroTorchBackend | None = None


def _init_worker(model: str, pack: np.ndarray, warmup: str) -> None:
    global _WORKER
    _WORKER = KokoroTorchBackend(model, device="cpu", threads=1)
    _WORKER.setup()
    _WORKER.synthesize(warmup, pack, 1.0, 0)


def _work(args: tuple[str, np.ndarray, int]) -> int:
    assert _WORKER is not None
    phonemes, pack, seed = args
    return _WORKER.synthesize(phonemes, pack, 1.0, seed).size


def sequential(backend: KokoroTorchBackend, requests: list[SynthesisRequest]) -> tuple[int, float]:
    started = time.perf_counter()
    samples = sum(backend.synthesize(r.phonemes, r.style_pack, r.speed, r.seed).size for r in requests)
    return samples, time.perf_counter() - started


def batched(backend: KokoroTorchBackend, requests: list[SynthesisRequest], size: int) -> tuple[int, float]:
    groups = plan_batches([len(r.phonemes) for r in requests], max_items=size)
    started = time.perf_counter()
    samples = 0
    for group in groups:
        samples += sum(audio.size for audio, _ in backend.synthesize_batch([requests[i] for i in group]))
    return samples, time.perf_counter() - started


def processes(model: str, pack: np.ndarray, requests: list[SynthesisRequest], warmup: str) -> tuple[int, float]:
    context = mp.get_context("spawn")
    with context.Pool(2, initializer=_init_worker, initargs=(model, pack, warmup)) as pool:
        pool.map(_work, [(warmup, pack, 0)] * 2)  # both workers loaded and warm
        started = time.perf_counter()
        samples = sum(pool.map(_work, [(r.phonemes, pack, r.seed) for r in requests], chunksize=1))
        return samples, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", type=Path, default=Path("data/books/alice.txt"))
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--target-seconds", type=float, default=5.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None, help="Torch checkpoint (default: the rebuilt embedded one).")
    parser.add_argument("--processes", action="store_true", help="Also time 2 processes x 1 thread (CPU).")
    args = parser.parse_args()

    settings = Settings()
    model = args.model or torch_model(settings)
    g2p = G2P()
    g2p.setup()
    chunks = [c for c in chunk_book(read_book(args.book), g2p, target_seconds=args.target_seconds) if c.kind == "text"]
    chunks = chunks[: args.chunks]
    pack = build_voice_store(settings).resolve("af_heart").pack
    requests = [SynthesisRequest(c.phonemes, pack, 1.0, 1000 + i) for i, c in enumerate(chunks)]
    backend = KokoroTorchBackend(model, device=args.device, threads=args.threads)
    backend.setup()
    warmup = chunks[0].phonemes[:60]
    backend.synthesize(warmup, pack, 1.0, 0)
    if backend.info.device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()

    rows = []
    samples, wall = sequential(backend, requests)
    rows.append(("sequential (1 chunk per call)", samples, wall))
    for size in args.sizes:
        backend.synthesize_batch(requests[:size])  # warm-up at this batch size
        samples_b, wall_b = batched(backend, requests, size)
        rows.append((f"batched B<={size}, length-grouped", samples_b, wall_b))
    if args.processes and not backend.info.device.startswith("cuda"):
        samples_p, wall_p = processes(model, pack, requests, warmup)
        rows.append(("2 processes x 1 thread, 1 chunk per call", samples_p, wall_p))

    audio_s = samples / SAMPLE_RATE
    lengths = [len(c.phonemes) for c in chunks]
    print(
        f"{platform.machine()} {platform.processor() or ''} device={backend.info.device} threads={args.threads}; "
        f"{len(chunks)} chunks, {min(lengths)}-{max(lengths)} phonemes, {audio_s:.1f} s audio; model {model}"
    )
    print("| variant | wall s | audio s / wall s | vs sequential |")
    print("|---|---|---|---|")
    base = samples / SAMPLE_RATE / wall
    for name, n, seconds in rows:
        rate = n / SAMPLE_RATE / seconds
        print(f"| {name} | {seconds:.1f} | {rate:.2f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
