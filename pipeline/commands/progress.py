"""The CLI's ``Reporter``: notes on stderr, one rich progress bar per job phase (files, audio
seconds, x-real-time, ETA where the phase knows its audio)."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.commands.common import console
from pipeline.jobs.reporting import Level

STYLES = {"info": "", "warning": "[yellow]warning:[/] ", "detail": "[dim]"}


class RichReporter:
    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task = None
        self._audio = 0.0
        self._audio_total = 0.0

    def note(self, message: str, level: Level = "info") -> None:
        text = STYLES[level] + escape(message) + ("[/]" if level == "detail" else "")
        (self._progress.console if self._progress else console).print(text)

    def start(self, phase: str, total: int, audio_total_s: float = 0.0) -> None:
        self._audio, self._audio_total = 0.0, audio_total_s
        self._progress = Progress(
            TextColumn(f"[bold blue]{phase}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._progress.start()
        self._task = self._progress.add_task(phase, total=total, detail=self._detail(0.0))

    def advance(self, phase: str, items: int = 1, audio_s: float = 0.0) -> None:
        if self._progress is None:
            return
        self._audio += audio_s
        elapsed = self._progress.tasks[0].elapsed or 1e-9
        self._progress.update(self._task, advance=items, detail=self._detail(elapsed))

    def relabel(self, phase: str, label: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, detail=label)

    def finish(self, phase: str) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = None

    def _detail(self, elapsed: float) -> str:
        if not self._audio_total:
            return ""
        rate = self._audio / elapsed if elapsed else 0.0
        eta = f"{(self._audio_total - self._audio) / rate:.0f} s" if rate > 0 else "?"
        return (
            f"{self._audio:.0f}/{self._audio_total:.0f} s audio  {rate:.2f}x real time  "
            f"ETA {eta if self._audio < self._audio_total else '0 s'}"
        )
