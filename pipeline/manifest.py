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
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from pipeline.records import AudioRecord

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"


class ManifestError(ValueError):
    """A manifest line that is JSON but not a clip record; the message names file and line."""


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_dataset(cls, dataset_dir: Path) -> Manifest:
        return cls(Path(dataset_dir) / MANIFEST_NAME)

    def _parsed_lines(self) -> Iterator[tuple[int, Any]]:
        """(line number, parsed JSON) for every non-empty line; a torn write is warned about and
        skipped."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s:%d is not valid JSON (torn write?); skipped", self.path, number)

    def iter_lines(self) -> Iterator[dict]:
        for _, row in self._parsed_lines():
            yield row

    def latest_by_path(self) -> dict[str, dict]:
        """The newest record for each wav path."""
        return {row["wav_path"]: row for row in self.iter_lines() if isinstance(row, dict) and "wav_path" in row}

    def records(self) -> list[AudioRecord]:
        """The newest record per wav path; a line with missing or unknown fields raises
        :class:`ManifestError` naming the file and line."""
        latest: dict[str, tuple[int, dict]] = {}
        for number, row in self._numbered_rows():
            latest[row.get("wav_path", f"<line {number}>")] = (number, row)
        return [self._record(number, row) for number, row in latest.values()]

    def _numbered_rows(self) -> Iterator[tuple[int, dict]]:
        for number, row in self._parsed_lines():
            if not isinstance(row, dict):
                raise ManifestError(f"{self.path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row

    def _record(self, number: int, row: dict) -> AudioRecord:
        known = {f.name for f in fields(AudioRecord)}
        required = {f.name for f in fields(AudioRecord) if f.default is MISSING and f.default_factory is MISSING}
        missing, unknown = sorted(required - row.keys()), sorted(row.keys() - known)
        if missing or unknown:
            problems = ([f"missing field(s) {', '.join(missing)}"] if missing else []) + (
                [f"unknown field(s) {', '.join(unknown)}"] if unknown else []
            )
            raise ManifestError(f"{self.path}:{number}: {'; '.join(problems)}; fix or delete that line")
        try:
            return AudioRecord(**row)
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{self.path}:{number}: {exc}; fix or delete that line") from exc

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
