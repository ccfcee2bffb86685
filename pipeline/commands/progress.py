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


class JsonReporter:
    """``--progress json``: one JSON object per line on stderr (a phase's start, progress at most
    once a second, its end, and notes), for logs and supervisors::

        {"event": "progress", "phase": "validate", "done": 12, "total": 36, "audio_s": 240.1,
         "audio_total_s": 690.0, "elapsed_s": 30.2, "x_real_time": 7.95, "eta_s": 56.6}
    """

    def __init__(self, stream=None, interval_s: float = 1.0) -> None:
        import sys

        self._stream = stream or sys.stderr
        self._interval = interval_s
        self._state: dict = {}

    def _emit(self, event: str, **fields) -> None:
        import json

        self._stream.write(json.dumps({"event": event, **fields}) + "\n")
        self._stream.flush()

    def note(self, message: str, level: Level = "info") -> None:
        self._emit("note", level=level, message=message)

    def start(self, phase: str, total: int, audio_total_s: float = 0.0) -> None:
        import time

        now = time.monotonic()
        self._state = {"phase": phase, "total": total, "audio_total": audio_total_s, "done": 0, "audio": 0.0}
        self._state |= {"started": now, "last": now}
        self._emit("start", **self._fields())

    def advance(self, phase: str, items: int = 1, audio_s: float = 0.0) -> None:
        import time

        if not self._state:
            return
        self._state["done"] += items
        self._state["audio"] += audio_s
        now = time.monotonic()
        if now - self._state["last"] >= self._interval or self._state["done"] >= self._state["total"]:
            self._state["last"] = now
            self._emit("progress", **self._fields())

    def relabel(self, phase: str, label: str) -> None:
        self._emit("note", level="detail", message=f"{phase}: {label}")

    def finish(self, phase: str) -> None:
        if self._state:
            self._emit("finish", **self._fields())
        self._state = {}

    def _fields(self) -> dict:
        import time

        s = self._state
        elapsed = time.monotonic() - s["started"]
        rate = s["audio"] / elapsed if elapsed > 0 else 0.0
        left = s["audio_total"] - s["audio"]
        if left > 0 and rate > 0:
            eta = left / rate
        elif s["done"] and s["done"] < s["total"]:
            eta = elapsed / s["done"] * (s["total"] - s["done"])
        else:
            eta = 0.0
        return {
            "phase": s["phase"],
            "done": s["done"],
            "total": s["total"],
            "audio_s": round(s["audio"], 2),
            "audio_total_s": round(s["audio_total"], 2),
            "elapsed_s": round(elapsed, 2),
            "x_real_time": round(rate, 2),
            "eta_s": round(eta, 1),
        }


def reporter_for(progress: str):
    """The reporter ``--progress`` names."""
    if progress == "json":
        return JsonReporter()
    if progress != "bar":
        import typer

        raise typer.BadParameter(f"--progress takes bar or json, not {progress!r}")
    return RichReporter()
