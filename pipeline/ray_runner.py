"""Ray Data runner (``--runner ray``): the same stage classes as the local runner, run as Ray
Data ``map_batches`` actors.

Example::

    with RayRunner(address=None) as runner:          # RAY_ADDRESS, else a local cluster
        for batch, results in runner.map_batches(stage, batches):
            ...

How a stage maps onto Ray Data:

* one actor per stage copy (``compute=ActorPoolStrategy(size=n)``); the actor unpickles the stage
  and calls ``setup()`` once, then ``process_batch`` per batch. Each actor declares the stage's
  ``Resources``: ``num_cpus=cpus``, ``num_gpus=gpus``; ``batch_size`` is Ray's batch size. ``n`` is
  ``actors`` when given, else as many copies as the cluster's CPUs (or GPUs) hold, never more
  than there are batches.
* the dataset has one block per batch (``override_num_blocks``): Ray Data only spreads work over
  several actors when there are several blocks.
* batch format: an Arrow table with ``seq`` (int64, the item's position in this call) and
  ``item`` (binary, the pickled item dataclass). The actor returns ``seq``, ``result`` (binary,
  the pickled result or ``ItemFailure``) and ``report`` (binary: the pickled return value of the
  worker hook on the batch's first row, empty elsewhere). Pickle keeps the frozen dataclasses
  (``SynthesisJob``, ``ClipSource``, ``ClipResult`` ...) exactly as the local runner sees them.
* a ``worker_hook(items, results)`` runs in the actor after each batch: that is where the store
  is written from the workers; what it returns comes back to the driver's ``on_report``.
* an actor that dies (OOM, segfault, a killed node) is restarted up to ``max_restarts`` times and
  its batch retried up to ``max_task_retries`` times (Ray Data's default is forever). Writes are
  upserts keyed on ``(file_hash, dataset)`` and files are replaced atomically, so a retried batch
  overwrites what its dead attempt wrote; the driver only sees the attempt that finished.
* a stage that declares GPUs (or more CPUs) than the cluster has fails before anything is
  submitted: Ray would otherwise wait forever for a GPU that does not exist.

``RAY_AUTH_MODE``: Ray 2.60 writes ``~/.ray/auth_token`` unless ``RAY_AUTH_MODE=disabled``. For
the local cluster this runner starts itself, it sets ``disabled`` unless you set it; a cluster
you join (``RAY_ADDRESS`` / ``--ray-address``) keeps whatever mode you gave it.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pipeline.stages.base import ItemFailure, Stage

log = logging.getLogger(__name__)

ITEM, RESULT, REPORT, SEQ = "item", "result", "report", "seq"
DEFAULT_MAX_RESTARTS = 3  # actor restarts after a crash (Ray Data's default: forever)
DEFAULT_MAX_TASK_RETRIES = 3  # retries of the batch an actor was running when it died

WorkerHook = Callable[[Sequence[Any], list[Any]], Any]


class RayResourceError(RuntimeError):
    """The cluster cannot host one copy of the stage (e.g. it declares a GPU and there is none)."""


class RayUnavailable(RuntimeError):
    """Ray is not installed or the cluster cannot be reached."""


def check_resources(stage: Stage, cluster: dict[str, float]) -> None:
    """Fail fast, before submitting, when one copy of ``stage`` cannot be placed anywhere."""
    res = stage.resources
    have_gpus = float(cluster.get("GPU", 0.0))
    have_cpus = float(cluster.get("CPU", 0.0))
    if res.gpus > 0 and have_gpus < res.gpus:
        raise RayResourceError(
            f"stage {stage.name!r} asks for {res.gpus:g} GPU(s) per actor but the Ray cluster has "
            f"{have_gpus:g}: it would wait forever. Run it on a cluster with GPUs, or declare "
            "0 GPUs (PIPELINE_GPUS_PER_WORKER=0) to run on CPUs."
        )
    if res.cpus > 0 and have_cpus < res.cpus:
        raise RayResourceError(
            f"stage {stage.name!r} asks for {res.cpus:g} CPU(s) per actor but the Ray cluster has "
            f"{have_cpus:g}: lower --threads (threads per worker)."
        )


def pool_size(stage: Stage, cluster: dict[str, float], n_batches: int, actors: int | None = None) -> int:
    """Actors for ``stage``: ``actors`` if given, else what the cluster holds, at most one per batch."""
    if actors:
        return max(1, min(actors, n_batches))
    res = stage.resources
    fits = []
    if res.cpus > 0:
        fits.append(math.floor(cluster.get("CPU", 0.0) / res.cpus))
    if res.gpus > 0:
        fits.append(math.floor(cluster.get("GPU", 0.0) / res.gpus))
    return max(1, min([n_batches, *fits]))


class StageActor:
    """The Ray Data actor class: one set-up copy of a stage (plus an optional worker hook)."""

    def __init__(self, stage: Stage, hook: WorkerHook | None = None) -> None:
        self.stage = stage  # a fresh copy, unpickled by Ray in this actor
        self.hook = hook
        self.stage.setup()

    def __call__(self, batch):  # pyarrow.Table -> pyarrow.Table
        import pyarrow as pa

        items = [pickle.loads(blob) for blob in batch.column(ITEM).to_pylist()]
        results = self.stage.process_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.stage.name}: {len(results)} results for {len(items)} items")
        report = self.hook(items, results) if self.hook is not None else None
        reports = [pickle.dumps(report)] + [b""] * (len(items) - 1)
        return pa.table(
            {
                SEQ: batch.column(SEQ),
                RESULT: pa.array([pickle.dumps(r) for r in results], type=pa.binary()),
                REPORT: pa.array(reports, type=pa.binary()),
            }
        )


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a local cluster sized to this
    machine. Returns True when this call started or joined Ray (so the caller shuts it down);
    False when Ray was already initialised in this process."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(
            "the Ray runner needs the `ray` extra: pip install 'book-tts-pipeline[ray]' (ray[data]==2.60.0)"
        ) from exc
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            # Joining a cluster: its auth mode is whatever its operator chose (RAY_AUTH_MODE as set).
            ray.init(address=address, log_to_driver=True)
        else:
            # Our own throwaway local cluster: no ~/.ray/auth_token unless the user asked for one.
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=True)
    except Exception as exc:  # ConnectionError, auth errors, a bad address ...
        raise RayUnavailable(f"cannot start or join Ray ({address or 'local cluster'}): {exc}") from exc
    return True


class RayRunner:
    """``map_batches(stage, batches)`` like ``LocalRunner``, on a Ray cluster. Results come back
    as the actors finish them (not in submission order, like the local pool)."""

    writes_in_workers = True  # callers hand their store writes to ``worker_hook``

    def __init__(
        self,
        address: str | None = None,
        *,
        actors: int | None = None,
        num_cpus: int | None = None,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        max_task_retries: int = DEFAULT_MAX_TASK_RETRIES,
    ) -> None:
        self.address = address
        self.actors = actors or None
        self.num_cpus = num_cpus
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self._owns_ray = False

    def start(self) -> RayRunner:
        self._owns_ray = start_ray(self.address, num_cpus=self.num_cpus) or self._owns_ray
        return self

    def close(self) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayRunner:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def cluster_resources(self) -> dict[str, float]:
        import ray

        self.start()
        return dict(ray.cluster_resources())

    def map_batches(
        self,
        stage: Stage,
        batches: Iterable[Sequence[Any]],
        *,
        worker_hook: WorkerHook | None = None,
        on_report: Callable[[Any], None] | None = None,
    ) -> Iterator[tuple[list[Any], list[Any | ItemFailure]]]:
        import ray
        import ray.data

        cluster = self.cluster_resources()
        check_resources(stage, cluster)  # before anything is submitted
        batches = [list(b) for b in batches if len(b)]
        if not batches:
            return
        items = [item for batch in batches for item in batch]
        batch_size = max(len(b) for b in batches)
        size = pool_size(stage, cluster, len(batches), self.actors)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the commands draw their own progress
        context.max_errored_blocks = 0
        rows = [{SEQ: seq, ITEM: pickle.dumps(item)} for seq, item in enumerate(items)]
        ds = ray.data.from_items(rows, override_num_blocks=len(batches))
        with warnings.catch_warnings():
            # max_restarts / max_task_retries have no named parameter in Ray 2.60; passing them
            # as ray_remote_args is the documented way and warns about its 2.64 removal.
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = self._map(ds, stage, worker_hook, batch_size, size)
        log.info(
            "ray: %s on %d actor(s) x (%g CPU, %g GPU), %d items in %d batches of <= %d",
            stage.name,
            size,
            stage.resources.cpus,
            stage.resources.gpus,
            len(items),
            len(batches),
            batch_size,
        )
        for out in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            seqs = out.column(SEQ).to_pylist()
            if on_report is not None:
                for blob in out.column(REPORT).to_pylist():
                    if blob:
                        on_report(pickle.loads(blob))
            results = [pickle.loads(blob) for blob in out.column(RESULT).to_pylist()]
            yield [items[i] for i in seqs], results

    def _map(self, ds, stage: Stage, worker_hook: WorkerHook | None, batch_size: int, size: int):
        import ray.data

        return ds.map_batches(
            StageActor,
            fn_constructor_args=(stage, worker_hook),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=size),
            num_cpus=stage.resources.cpus,
            num_gpus=stage.resources.gpus or None,
            max_restarts=self.max_restarts,
            max_task_retries=self.max_task_retries,
        )
