"""Local runner: maps a stage over batches in-process or in worker processes.

Kokoro's int8 ONNX graph takes one sequence at a time, so on a small CPU the cores are used
by running one single-threaded model per worker process (measured against one process with
several intra-op threads in ``benchmarks/generate_throughput.py``; see BENCHMARKS.md).
Workers are spawned (not forked) so they never inherit the driver's torch/OpenMP state.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol

from pipeline.lifecycle import guard_worker, stop_children
from pipeline.stages.base import ItemFailure, Stage

_WORKER_STAGE: Stage | None = None


class Runner(Protocol):
    """What the pipeline needs from a runner: ``LocalRunner`` here, ``RayRunner`` in
    ``pipeline/ray_runner.py`` (which also takes ``worker_hook=`` / ``on_report=`` and sets
    ``writes_in_workers``)."""

    def map_batches(
        self, stage: Stage, batches: Iterable[Sequence[Any]]
    ) -> Iterator[tuple[Sequence[Any], list[Any | ItemFailure]]]: ...


def _init_worker(stage: Stage, parent_pid: int) -> None:
    global _WORKER_STAGE
    guard_worker(parent_pid)  # die with the parent, never finish batches nobody will record
    stage.setup()
    _WORKER_STAGE = stage


def _run_batch(batch: Sequence[Any]) -> list[Any]:
    assert _WORKER_STAGE is not None, "worker was not initialised"
    return _WORKER_STAGE.process_batch(batch)


class LocalRunner:
    """``workers <= 1``: run in this process. Otherwise a pool of spawned workers, each with its
    own copy of the stage (set up once per worker), at most ``2 * workers`` batches in flight."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)

    def map_batches(
        self, stage: Stage, batches: Iterable[Sequence[Any]]
    ) -> Iterator[tuple[Sequence[Any], list[Any | ItemFailure]]]:
        if self.workers == 1:
            yield from self._in_process(stage, batches)
        else:
            yield from self._in_pool(stage, batches)

    @staticmethod
    @contextmanager
    def session(stage: Stage) -> Iterator[Callable[[Sequence[Any]], list[Any | ItemFailure]]]:
        """``stage`` set up once in this process for as long as the ``with`` lasts; yields its
        batch function. Stream mode holds one session per stage and sends each clip through all
        of them in turn; ``map_batches`` in process is one session over all batches."""
        stage.setup()
        try:
            yield stage.process_batch
        finally:
            stage.teardown()

    @classmethod
    def _in_process(cls, stage: Stage, batches: Iterable[Sequence[Any]]):
        with cls.session(stage) as process_batch:
            for batch in batches:
                yield batch, process_batch(batch)

    def _in_pool(self, stage: Stage, batches: Iterable[Sequence[Any]]):
        context = mp.get_context("spawn")
        pending: dict[Future, Sequence[Any]] = {}
        batch_iter = iter(batches)
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker, initargs=(stage, os.getpid())
        )
        finished = False
        try:
            for batch in batch_iter:
                pending[pool.submit(_run_batch, batch)] = batch
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = pending.pop(future)
                    yield batch, future.result()
                    next_batch = next(batch_iter, None)
                    if next_batch is not None:
                        pending[pool.submit(_run_batch, next_batch)] = next_batch
            finished = True
        finally:
            if not finished:  # stopped, failed or abandoned: workers must not finish their batches
                stop_children()
            pool.shutdown(wait=finished, cancel_futures=True)
