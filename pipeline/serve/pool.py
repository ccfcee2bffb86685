"""Engine workers: Kokoro in ``ENGINE_WORKERS`` processes (each with ``THREADS_PER_WORKER``
threads; by default as many as fill the CPU cores, one per GPU), so concurrent requests, and the
segments of one request, synthesize in parallel.

Pieces wait in one priority queue: a stream's first segment goes ahead of the later segments of
every request (low time-to-first-byte under load), otherwise first come, first served. On the
torch backend a worker that takes a piece also takes those that arrive within ``BATCH_WAIT_MS``
(up to ``MAX_BATCH``) and synthesizes them in one padded forward pass (``pipeline.tts.batched``). A piece
whose request has gone is dropped from the queue unsynthesized. Every synthesis is recorded with
its worker and its start and end (``time.monotonic``, one clock for all processes), per request:
``/api/synthesis`` shows them, so overlap is visible without timing anything.

Example::

    pool = EnginePool(settings, plan_workers(settings))
    await pool.start()                      # each worker loads the model and warms up
    audio, durations = await pool.synthesize(phonemes, pack, 1.0, request_id="r1", first=True)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.devices import parse_device
from pipeline.settings import Settings

log = logging.getLogger(__name__)
WARM_UP_PHONEMES = "həlˈO ðˈɛɹ, ðɪs ɪz ɐ wˈɔɹm ˈʌp."
RECENT_REQUESTS = 256


class EngineFailed(RuntimeError):
    """A piece the engine could not synthesize (or its worker died)."""


class WorkerDied(EngineFailed):
    """The worker process died while it synthesized the piece (not the input's fault)."""


class DeviceUnavailable(RuntimeError):
    """``KOKORO_DEVICE`` names a device this machine (or this backend) does not have."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    device: str
    threads: int


def _cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def _backend_has_cuda(settings: Settings) -> bool:
    if settings.tts_backend != "onnx":
        return True
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def check_device(settings: Settings) -> str:
    """The device the engines will use: ``auto`` resolved; a device that is not there refused
    (both backends: the ONNX one needs onnxruntime's CUDA provider for ``cuda[:N]``)."""
    try:
        device = parse_device(settings.kokoro_device)
    except ValueError as exc:
        raise DeviceUnavailable(f"KOKORO_DEVICE: {exc}") from exc
    count = _cuda_count()
    if device == "auto":
        return "cuda" if count and _backend_has_cuda(settings) else "cpu"
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise DeviceUnavailable(
                f"KOKORO_DEVICE={device}: this machine has {count} CUDA device(s); refusing to run on another"
            )
        if not _backend_has_cuda(settings):
            raise DeviceUnavailable(
                f"KOKORO_DEVICE={device} with the onnx backend needs onnxruntime-gpu (the `gpu` extra)"
            )
    elif device == "mps":
        if settings.tts_backend == "onnx":
            raise DeviceUnavailable("KOKORO_DEVICE=mps: the onnx backend runs on cpu or cuda only")
        import torch

        if not torch.backends.mps.is_available():
            raise DeviceUnavailable("KOKORO_DEVICE=mps but MPS is not available")
    return device


SHARED_CORE_THREADS = 2  # CPU default: threads per one-core worker (see plan_workers)


def plan_workers(settings: Settings, device: str) -> list[WorkerPlan]:
    """One worker per GPU (``cuda``: every visible one; ``cuda:N``: that one), else enough
    processes of ``THREADS_PER_WORKER`` threads to fill the cores; ``ENGINE_WORKERS`` overrides.

    On the CPU with ``THREADS_PER_WORKER`` not set, there is one worker per core and each may run
    ``SHARED_CORE_THREADS`` threads: when fewer pieces than workers are being synthesized (the
    last segment of a lone request), a piece also uses an idle worker's core; under full load the
    extra threads wait without spinning (the ONNX backend turns spinning off above one thread)."""
    threads = settings.threads_per_worker
    cores = len(os.sched_getaffinity(0))
    if device.startswith("cuda"):
        devices = [device] if ":" in device else [f"cuda:{i}" for i in range(max(1, _cuda_count()))]
    else:
        devices = [device]
    if settings.engine_workers:
        count = settings.engine_workers
    elif device.startswith("cuda"):
        count = len(devices)
    else:
        count = max(1, cores // threads)
    if device == "cpu" and "threads_per_worker" not in settings.model_fields_set and cores > 1:
        threads = SHARED_CORE_THREADS
    return [WorkerPlan(devices[i % len(devices)], threads) for i in range(count)]


# --- the worker process ----------------------------------------------------------------------


def worker_main(conn: Any, settings: Settings, plan: WorkerPlan) -> None:
    """Load the backend, say ready, then synthesize ``(phonemes, pack, speed, seed)`` messages
    until ``None``; every reply carries the interval the synthesis ran in."""
    os.environ.setdefault("OMP_NUM_THREADS", str(plan.threads))
    if plan.threads > 1:  # threads that may share cores with other workers' wait without spinning
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from pipeline.tts.backend import SynthesisRequest

    try:
        from pipeline.tts.engine import make_backend

        backend = make_backend(
            settings.model_copy(update={"kokoro_device": plan.device, "threads_per_worker": plan.threads})
        )
        backend.setup()
        conn.send(("ready", os.getpid(), backend.info.device))
    except Exception as exc:  # reported to the server, which refuses to start
        conn.send(("failed", os.getpid(), f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        started = time.monotonic()
        try:
            if len(message) == 1:
                phonemes, pack, speed, seed = message[0]
                outputs = [backend.synthesize_with_durations(phonemes, pack, speed, seed)]
            else:  # segments that arrived together: one padded forward pass (torch backend)
                outputs = backend.synthesize_batch([SynthesisRequest(*payload) for payload in message])
            conn.send(("ok", outputs, started, time.monotonic()))
        except Exception as exc:  # a bad piece fails its request(s), not the worker
            conn.send(("error", f"{type(exc).__name__}: {exc}", started, time.monotonic()))


# --- the server side --------------------------------------------------------------------------


@dataclass(order=True)
class _Job:
    priority: tuple[int, int]
    payload: tuple = field(compare=False)
    request_id: str = field(compare=False)
    future: asyncio.Future = field(compare=False)
    cancel: threading.Event | None = field(compare=False, default=None)
    retried: bool = field(compare=False, default=False)


class _Worker:
    def __init__(self, plan: WorkerPlan, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        self.plan = plan
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, settings, plan), daemon=True)
        self.process.start()
        child.close()
        self.pid = self.process.pid
        self.device = plan.device
        self.busy = False

    def wait_ready(self) -> None:
        kind, pid, detail = self.conn.recv()
        if kind != "ready":
            raise EngineFailed(f"engine worker {pid} ({self.plan.device}) failed to start: {detail}")
        self.device = detail

    def call(self, payload: tuple) -> tuple:
        self.conn.send(payload)
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


class EnginePool:
    def __init__(self, settings: Settings, plans: list[WorkerPlan]) -> None:
        self.settings = settings
        batching = settings.tts_backend == "torch" and settings.max_batch > 1
        self.max_batch = settings.max_batch if batching else 1
        self.batch_wait_s = settings.batch_wait_ms / 1000 if batching else 0.0
        self.plans = plans
        self.workers: list[_Worker] = []
        self.ready = False
        self.synthesized = 0
        self.replaced = 0  # workers started again after one died
        self.intervals: OrderedDict[str, list[dict]] = OrderedDict()
        self._queue: asyncio.PriorityQueue[_Job] | None = None
        self._tasks: list[asyncio.Task] = []
        self._threads = ThreadPoolExecutor(max(1, len(plans)), thread_name_prefix="engine")
        self._order = itertools.count()

    @property
    def size(self) -> int:
        return len(self.plans)

    async def start(self, warm_pack: np.ndarray) -> None:
        """Start every worker, wait until each has loaded its model and synthesized a warm-up piece."""
        loop = asyncio.get_running_loop()
        self.workers = [_Worker(plan, self.settings) for plan in self.plans]
        try:
            await asyncio.gather(*(loop.run_in_executor(self._threads, w.wait_ready) for w in self.workers))
            warm = [(WARM_UP_PHONEMES, warm_pack, 1.0, self.settings.seed)]
            replies = await asyncio.gather(*(loop.run_in_executor(self._threads, w.call, warm) for w in self.workers))
        except BaseException:
            await self.close()
            raise
        for reply in replies:
            if reply[0] != "ok":
                await self.close()
                raise EngineFailed(f"engine warm-up failed: {reply[1]}")
        self._queue = asyncio.PriorityQueue()
        self._tasks = [asyncio.ensure_future(self._serve(index)) for index in range(len(self.workers))]
        self.ready = True
        log.info("%d engine worker(s) ready: %s", len(self.workers), [(w.pid, w.device) for w in self.workers])

    async def close(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _record(self, request_id: str, pid: int, started: float, ended: float, batch: int) -> None:
        interval = {"worker": pid, "start": started, "end": ended, "batch": batch}
        self.intervals.setdefault(request_id, []).append(interval)
        self.intervals.move_to_end(request_id)
        while len(self.intervals) > RECENT_REQUESTS:
            self.intervals.popitem(last=False)

    @staticmethod
    def _live(job: _Job) -> bool:
        return not job.future.done() and not (job.cancel is not None and job.cancel.is_set())

    async def _take(self) -> list[_Job]:
        """The next live piece, and (batching) the live pieces that arrive within the wait."""
        assert self._queue is not None
        jobs: list[_Job] = []
        while not jobs:
            job = await self._queue.get()
            if self._live(job):  # a request that has gone: its piece is skipped
                jobs.append(job)
        deadline = time.monotonic() + self.batch_wait_s
        while len(jobs) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.002)
                continue
            if self._live(job):
                jobs.append(job)
        return jobs

    async def _replace(self, index: int) -> None:
        old = self.workers[index]
        await asyncio.to_thread(old.stop)
        self.workers[index] = _Worker(old.plan, self.settings)
        try:
            await asyncio.get_running_loop().run_in_executor(self._threads, self.workers[index].wait_ready)
        except Exception as exc:  # it is tried again with the next piece
            log.error("engine worker could not be started again: %s", exc)
            await asyncio.sleep(1.0)
            return
        self.replaced += 1

    async def _serve(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._take()
            worker = self.workers[index]
            if not worker.process.is_alive():  # died while idle: nothing of these jobs was lost
                log.error(
                    "engine worker %s is gone (exit code %s); starting a new one", worker.pid, worker.process.exitcode
                )
                for job in jobs:
                    self._queue.put_nowait(job)
                await self._replace(index)
                continue
            worker.busy = True
            try:
                reply = await loop.run_in_executor(self._threads, worker.call, [job.payload for job in jobs])
            except (EOFError, OSError) as exc:
                for job in jobs:  # a piece whose worker died is tried once more, then fails its request
                    if job.future.done():
                        continue
                    if job.retried:
                        job.future.set_exception(WorkerDied(f"engine worker {worker.pid} died: {exc!r}"))
                    else:
                        job.retried = True
                        self._queue.put_nowait(job)
                log.error("engine worker %s died while synthesizing; starting a new one", worker.pid)
                await self._replace(index)
                continue
            finally:
                worker.busy = False
            kind, outputs, started, ended = reply
            self.synthesized += len(jobs)
            for position, job in enumerate(jobs):
                self._record(job.request_id, worker.pid, started, ended, len(jobs))
                if job.future.done():
                    continue
                if kind == "ok":
                    job.future.set_result(outputs[position])
                else:
                    job.future.set_exception(EngineFailed(outputs))

    async def synthesize(
        self,
        phonemes: str,
        pack: np.ndarray,
        speed: float,
        *,
        request_id: str,
        first: bool,
        cancel: threading.Event | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(audio, durations)`` of one piece; first segments are served before later ones."""
        if self._queue is None:
            raise EngineFailed("the engines are still loading")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        job = _Job(
            (0 if first else 1, next(self._order)),
            (phonemes, pack, speed, self.settings.seed),
            request_id,
            future,
            cancel,
        )
        self._queue.put_nowait(job)
        return await future

    def status(self) -> dict[str, Any]:
        return {
            "workers": [{"pid": w.pid, "device": w.device, "busy": w.busy} for w in self.workers],
            "threads_per_worker": self.plans[0].threads if self.plans else None,
            "max_batch": self.max_batch,
            "queued_pieces": self._queue.qsize() if self._queue else 0,
            "pieces_synthesized": self.synthesized,
            "workers_replaced": self.replaced,
        }
