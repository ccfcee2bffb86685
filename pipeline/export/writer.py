"""What every export format implements, and the helpers they share.

The orchestrator (``pipeline.export.run``) hands a writer each split's clips once, in book order,
then calls ``finish``; the writer builds its layout under ``out`` (a staging folder that is renamed
into place only when everything succeeded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.export.audio import Clip
from pipeline.export.values import plain

AUDIO_DIR = "audio"


@dataclass(frozen=True, slots=True)
class WriterOptions:
    columns: list[str]  # metadata columns next to the audio (text and file_hash first)
    types: dict[str, str]  # column -> Postgres type
    split_requested: bool  # --splits given (else the single split "train")
    sample_rate: int | None  # resample to this rate (formats that take --sample-rate)
    combine: bool = False  # one long wav per split, book and voice, clips addressed by offset (nemo)


class Writer:
    """One export format. Subclasses set ``name`` and implement ``write_split`` (and ``finish``)."""

    name = ""
    resamples = False  # honours --sample-rate
    combines = False  # honours --combine

    def __init__(self, out: Path, stage: Path, options: WriterOptions) -> None:
        self.out = out  # the export folder being built
        self.stage = stage  # scratch space next to it, removed afterwards
        self.options = options

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        raise NotImplementedError

    def finish(self, splits: Sequence[str]) -> None:
        """Called once after the last split, with the names of the splits that got clips."""

    def metadata(self, clip: Clip) -> dict[str, Any]:
        """The clip's metadata columns as stored, ``duration_s`` measured when the row has none."""
        row = dict(clip.row)
        if "duration_s" in self.options.columns and row.get("duration_s") is None:
            row["duration_s"] = clip.seconds
        return {c: row[c] for c in self.options.columns}

    def json_metadata(self, clip: Clip) -> dict[str, Any]:
        return plain(self.metadata(clip))

    def copy_audio(self, clip: Clip) -> str:
        """Write the clip's wav under ``audio/``; returns its path relative to the export folder."""
        relative = f"{AUDIO_DIR}/{clip.name}"
        target = self.out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(clip.data)
        return relative
