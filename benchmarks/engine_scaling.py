"""How far Kokoro on onnxruntime scales with the cores of this machine: the ceiling a server or
``pipeline generate`` can reach, measured side by side in one run.

Layouts (audio seconds synthesized per wall second, all processes together):

* ``1 process x 1 thread``: one engine, one intra-op thread (a server with one engine behind a lock).
* ``N processes x 1 thread``: N engines at once, each on its own core.
* ``1 process x N threads``: one engine whose intra-op threads share the cores (a lone segment).
* ``N processes x N threads``: every engine busy with threads for all the cores (the server's
  default pool when as many segments as workers are being synthesized).

Each process loads the embedded int8 ONNX model and af_heart, then synthesizes the same sentence
for ``--seconds`` (model load excluded), so every layout does the same work per call. Usage::

    python benchmarks/engine_scaling.py [--seconds 20] [--text "..."] [--voice af_heart]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time

DEFAULT_TEXT = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do."
)


def _synthesize_for(threads: int, seconds: float, text: str, voice: str, start: object, out: object) -> None:
    """One process: load, wait for the common start, synthesize ``text`` for ``seconds``, and put
    ``(audio seconds, wall seconds)`` on ``out``."""
    from pipeline.settings import get_settings
    from pipeline.tts.backend import SAMPLE_RATE
    from pipeline.tts.engine import build_engine

    settings = get_settings().model_copy(update={"tts_backend": "onnx", "threads_per_worker": threads})
    engine = build_engine(settings)
    engine.setup()
    phonemes = engine.g2p.phonemize(text).phonemes
    resolved = engine.resolve_voice(voice)
    engine.synthesize_phonemes(phonemes, resolved)  # warm-up, not counted
    start.wait()  # type: ignore[attr-defined]
    began = time.perf_counter()
    audio = 0.0
    while time.perf_counter() - began < seconds:
        audio += len(engine.synthesize_phonemes(phonemes, resolved).audio) / SAMPLE_RATE
    out.put((audio, time.perf_counter() - began))  # type: ignore[attr-defined]


def run_layout(processes: int, threads: int, seconds: float, text: str, voice: str) -> float:
    """Audio seconds per wall second of ``processes`` engines of ``threads`` threads at once."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    out = context.Queue()
    workers = [
        context.Process(target=_synthesize_for, args=(threads, seconds, text, voice, start, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(audio for audio, _ in results) / max(wall for _, wall in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    layouts = [(1, 1), (args.cores, 1), (1, args.cores), (args.cores, args.cores)]
    print(f"# {platform.processor() or platform.machine()}, {args.cores} cores, {args.seconds:.0f} s per layout")
    one = None
    print("| layout | audio s / wall s | vs 1 x 1 |\n|---|---|---|")
    for processes, threads in layouts:
        rate = run_layout(processes, threads, args.seconds, args.text, args.voice)
        one = one or rate
        print(f"| {processes} process(es) x {threads} thread(s) | {rate:.2f} | {rate / one:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
