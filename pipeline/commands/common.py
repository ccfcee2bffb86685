"""Shared CLI plumbing: console, settings from flags, user-facing errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def user_errors() -> Iterator[None]:
    """A ``JobError`` from the library becomes a one-line message and exit code 2."""
    from rich.markup import escape

    from pipeline.jobs.errors import JobError

    try:
        yield
    except JobError as exc:
        fail(escape(str(exc)))
