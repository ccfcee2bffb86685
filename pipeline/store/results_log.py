"""The local copy of every validate result, written whether or not the database is reachable."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.records import ClipResult
from pipeline.store.rows import validation_entry


class ResultsLog:
    """``<work>/validations/<dataset>.jsonl``: every clip's columns and words, appended as they
    finish, so ``pipeline db sync`` can store them when the database was unreachable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, result: ClipResult) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(validation_entry(result), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        latest: dict[tuple[str, str], dict] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            verdict = entry["groups"]["verdicts"]
            latest[(verdict["file_hash"], verdict["dataset"])] = entry
        return list(latest.values())
