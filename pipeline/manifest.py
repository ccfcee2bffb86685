"""``manifest.jsonl``: one JSON line per finished clip, appended as clips finish.

Append-only and written by one process at a time (an ``flock`` guards concurrent runs), so
a crash leaves at most a torn last line, which the reader skips. The last line for a path
wins, so regenerating a clip simply appends its new record.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.records import AudioRecord

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_dataset(cls, dataset_dir: Path) -> Manifest:
        return cls(Path(dataset_dir) / MANIFEST_NAME)

    def iter_lines(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s:%d is not valid JSON (torn write?); skipped", self.path, number)

    def latest_by_path(self) -> dict[str, dict]:
        """The newest record for each wav path."""
        return {row["wav_path"]: row for row in self.iter_lines() if "wav_path" in row}

    def records(self) -> list[AudioRecord]:
        return [AudioRecord(**row) for row in self.latest_by_path().values()]

    def append(self, records: Iterable[AudioRecord]) -> None:
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
