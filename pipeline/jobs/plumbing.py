"""What every job needs around its stages: a runner for ``settings.runner`` and a ``runs`` row."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pipeline
from pipeline.choices import RunnerKind
from pipeline.jobs.errors import JobError
from pipeline.jobs.reporting import Reporter
from pipeline.settings import Settings


def open_runner(settings: Settings, workers: int) -> AbstractContextManager[Any]:
    """The runner ``settings.runner`` names: ``LocalRunner(workers)``, or a started ``RayRunner``
    (``settings.ray_address`` / ``RAY_ADDRESS``, else a local cluster; ``settings.workers`` actors
    when set, else as many as the cluster holds). Close it when done (``with``)."""
    if settings.runner != RunnerKind.ray:
        from pipeline.runner import LocalRunner

        return nullcontext(LocalRunner(workers))
    from pipeline.ray_runner import RayRunner, RayUnavailable

    runner = RayRunner(settings.ray_address, actors=settings.workers or None)
    try:
        runner.start()
    except RayUnavailable as exc:
        raise JobError(str(exc)) from exc
    return runner


def runner_errors() -> tuple[type[Exception], ...]:
    """Errors a runner raises for a run it cannot place (shown as a one-line message)."""
    from pipeline.ray_runner import RayResourceError  # the module imports Ray lazily

    return (RayResourceError,)


def start_run_or_warn(settings: Settings, command: str, args: dict, dataset: str, kept_in: str, reporter: Reporter):
    """(store, run_id) for a job that writes rows, or (None, None) with a warning naming where the
    results are kept instead when the database is unreachable."""
    from pipeline.lifecycle import mark_stale_runs, process_identity
    from pipeline.store.connection import StoreUnavailable
    from pipeline.store.store import Store

    try:
        store = Store.from_settings(settings)
        mark_stale_runs(store)  # rows left 'running' by killed processes of this host
        versions = {"pipeline": pipeline.__version__}
        return store, store.start_run(command, args, versions, dataset, owner=process_identity())
    except StoreUnavailable as exc:
        reporter.note(f"{exc}; results are kept in {kept_in}, run `pipeline db sync` later", "warning")
        return None, None
