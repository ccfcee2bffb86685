"""``--format jsonl``: ``metadata.jsonl`` plus the wavs under ``audio/`` (the ``audiofolder``
convention, so ``load_dataset("audiofolder", data_dir=...)`` reads it as is). With ``--splits``
each line also has ``split``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pipeline.export.audio import Clip
from pipeline.export.writer import Writer

METADATA_NAME = "metadata.jsonl"


class JsonlWriter(Writer):
    name = "jsonl"

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        with (self.out / METADATA_NAME).open("a", encoding="utf-8") as handle:
            for clip in clips:
                line = {"file_name": self.copy_audio(clip), **self.json_metadata(clip)}
                if self.options.split_requested:
                    line["split"] = split
                handle.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")

    def finish(self, splits: Sequence[str]) -> None:
        (self.out / METADATA_NAME).touch()
