"""Shared CLI plumbing: console, settings from flags, user-facing errors."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler

from pipeline.settings import Settings

console = Console(stderr=True, soft_wrap=True)
out = Console()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line user-facing error (no traceback) and exit."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def settings_with(**overrides: Any) -> Settings:
    """Environment settings, overridden by the CLI flags that were given (None = not given)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValueError as exc:
        fail(f"invalid setting: {exc}")


def safe_dataset(name: str) -> str:
    """``--dataset`` as given, or a one-line error when it is not a safe folder name."""
    from pipeline.names import check_dataset_name

    try:
        return check_dataset_name(name)
    except ValueError as exc:
        fail(str(exc))


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
    logging.getLogger("pipeline").setLevel(logging.DEBUG if verbose else logging.INFO)
    # misaki's espeak fallback phonemizes word by word and phonemizer warns about word counts.
    logging.getLogger("phonemizer").setLevel(logging.ERROR)


def start_run_or_warn(settings: Settings, command: str, args: dict, dataset: str, kept_in: str):
    """(store, run_id) for a command that writes rows, or (None, None) with a warning naming where
    the results are kept instead when the database is unreachable."""
    import pipeline
    from pipeline.lifecycle import mark_stale_runs, process_identity
    from pipeline.store.connection import StoreUnavailable
    from pipeline.store.store import Store

    try:
        store = Store.from_settings(settings)
        mark_stale_runs(store)
        versions = {"pipeline": pipeline.__version__}
        return store, store.start_run(command, args, versions, dataset, owner=process_identity())
    except StoreUnavailable as exc:
        console.print(f"[yellow]warning:[/] {exc}; results are kept in {kept_in}, run `pipeline db sync` later")
        return None, None


def open_runner(settings: Settings, workers: int):
    """The runner ``settings.runner`` names: ``LocalRunner(workers)``, or a started ``RayRunner``
    (``settings.ray_address`` / ``RAY_ADDRESS``, else a local cluster; ``settings.workers`` actors
    when set, else as many as the cluster holds). Close it when done (``with``)."""
    from contextlib import nullcontext

    if settings.runner != "ray":
        from pipeline.runner import LocalRunner

        return nullcontext(LocalRunner(workers))
    from pipeline.ray_runner import RayRunner, RayUnavailable

    runner = RayRunner(settings.ray_address, actors=settings.workers or None)
    try:
        runner.start()
    except RayUnavailable as exc:
        fail(str(exc))
    return runner


def runner_errors() -> tuple[type[Exception], ...]:
    """Errors a runner raises for a run it cannot place (shown as a one-line message)."""
    try:
        from pipeline.ray_runner import RayResourceError
    except ImportError:  # pragma: no cover - the module itself imports no Ray
        return ()
    return (RayResourceError,)
