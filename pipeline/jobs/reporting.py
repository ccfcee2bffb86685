"""How a job tells its caller what is happening, without knowing who is listening: the CLI draws
progress bars from these calls, a test or a service can record them or ignore them."""

from __future__ import annotations

import logging
from typing import Literal, Protocol

log = logging.getLogger("pipeline.jobs")

Level = Literal["info", "warning", "detail"]


class Reporter(Protocol):
    def note(self, message: str, level: Level = "info") -> None:
        """A line worth showing (which engine was chosen, a skipped input, a warning)."""

    def start(self, phase: str, total: int, audio_total_s: float = 0.0) -> None:
        """A phase with ``total`` items begins (``audio_total_s``: its estimated audio, if known)."""

    def advance(self, phase: str, items: int = 1, audio_s: float = 0.0) -> None:
        """``items`` more of ``phase`` are done (``audio_s``: audio they produced)."""

    def relabel(self, phase: str, label: str) -> None:
        """The running phase now does something else (e.g. the secondary engine's pass)."""

    def finish(self, phase: str) -> None:
        """``phase`` is over."""


class LogReporter:
    """The library default: notes go to the log, progress is dropped."""

    def note(self, message: str, level: Level = "info") -> None:
        log.log(logging.WARNING if level == "warning" else logging.INFO, "%s", message)

    def start(self, phase: str, total: int, audio_total_s: float = 0.0) -> None:
        pass

    def advance(self, phase: str, items: int = 1, audio_s: float = 0.0) -> None:
        pass

    def relabel(self, phase: str, label: str) -> None:
        pass

    def finish(self, phase: str) -> None:
        pass
