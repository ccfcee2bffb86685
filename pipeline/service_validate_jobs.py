"""Folder validations of the validator API as background jobs: ``POST /api/validate/folder``
registers a :class:`FolderJob` and returns its id at once; ``GET /api/jobs/{id}`` reads it while
it runs (``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``).

Jobs are admitted by a ``JobGate`` (one runs, a few wait, more get a 503) and hold the model
lock only a few clips at a time, so single-clip requests are answered between their chunks.
They live in this process's memory: the last ``KEPT_JOBS`` are kept, a restart forgets them (the
rows a ``store: true`` job wrote stay in the database).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.service_jobs import Ticket

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
KEPT_JOBS = 100
FINISHED: tuple[JobStatus, ...] = ("done", "failed", "cancelled")


def _now() -> float:
    return round(time.time(), 3)


@dataclass
class FolderJob:
    """One folder validation; ``results`` grows as chunks finish (``result_json`` dicts, or
    ``{"path", "error"}`` for a clip refused before transcription)."""

    id: str
    folder: Path
    dataset: str
    engines: str
    limit: int | None
    detail: bool
    include_mos: bool
    store: bool
    ticket: Ticket
    status: JobStatus = "queued"
    total: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # found but not clips (e.g. a label alone)
    stored_rows: int = 0
    store_error: str | None = None
    run_id: int | None = None
    error: str | None = None
    created_at: float = field(default_factory=_now)
    started_at: float | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def finish(self, status: JobStatus, error: str | None = None) -> None:
        self.status, self.error, self.finished_at = status, error, _now()

    def view(self) -> dict[str, Any]:
        judged = [r for r in self.results if r.get("keep") is not None]
        return {
            "id": self.id,
            "status": self.status,
            "path": str(self.folder),
            "dataset": self.dataset,
            "engines": self.engines,
            "limit": self.limit,
            "include_mos": self.include_mos,
            "store": self.store,
            "total": self.total,
            "done": len(self.results),
            "summary": {
                "judged": len(judged),
                "kept": sum(1 for r in judged if r["keep"]),
                "rejected": sum(1 for r in judged if not r["keep"]),
                "errors": sum(1 for r in self.results if r.get("error")),
            },
            "stored_rows": self.stored_rows if self.store else None,
            "store_error": self.store_error,
            "run_id": self.run_id,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "skipped": self.skipped,
            "results": self.results,
        }


class FolderJobs:
    """The jobs of this process by id (oldest finished ones dropped beyond ``KEPT_JOBS``)."""

    def __init__(self, kept: int = KEPT_JOBS) -> None:
        self.kept = kept
        self._jobs: OrderedDict[str, FolderJob] = OrderedDict()
        self.tasks: set[Any] = set()  # running asyncio tasks, referenced until they end

    def add(self, **fields: Any) -> FolderJob:
        job = FolderJob(id=uuid.uuid4().hex[:12], **fields)
        self._jobs[job.id] = job
        finished = [j.id for j in self._jobs.values() if j.status in FINISHED]
        for job_id in finished[: max(0, len(self._jobs) - self.kept)]:
            del self._jobs[job_id]
        return job

    def get(self, job_id: str) -> FolderJob | None:
        return self._jobs.get(job_id)
