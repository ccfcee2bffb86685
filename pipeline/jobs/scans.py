"""Scans over stored clips, as library calls beside ``validate``:

* ``reverdict``: the current verdict rules and thresholds re-applied to the stored transcripts
  (``audio_transcripts``), no ASR and no audio: verdicts, words, keep, tier and the timing
  checks are rewritten; MOS and the other clip checks are read back as stored.
* ``score_mos``: the MOS judges over the clips a selection takes (``--only passed`` etc.), MOS
  columns written, keep updated when a MOS threshold is set.

Example::

    report = reverdict(ReverdictRequest(dataset="main"), settings)
    report.files, report.changed, report.rate       # clips re-judged, keep decisions changed, clips/s
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from pipeline.choices import Only
from pipeline.jobs.errors import JobError
from pipeline.jobs.generate import DatabaseOutcome
from pipeline.jobs.plumbing import start_run_or_warn
from pipeline.jobs.reporting import LogReporter, Reporter
from pipeline.keep import clip_decision
from pipeline.settings import Settings
from pipeline.stages.base import ItemFailure
from pipeline.stages.reverdict import Rejudged, ReverdictStage, Rules, rejudge_stored, reverdict_entry
from pipeline.store.connection import StoreUnavailable
from pipeline.store.scans import (
    ESCALATED_NEEDS_SECONDARY,
    ClipSelection,
    PageSpan,
    StoredClip,
    page_spans,
    stored_state,
)
from pipeline.store.store import Store, write_validation_entries

# A worker process costs seconds to start (imports, the verdicts' lexicon): worth it per this many clips.
MIN_CLIPS_PER_REVERDICT_WORKER = 1500
# Clips per re-verdict page: what one worker reads, judges and writes in one go; and pages per
# batch handed to a worker (within a batch a page is written while the next is judged).
REVERDICT_PAGE_SIZE = 250
REVERDICT_PAGES_PER_BATCH = 4


@dataclass(frozen=True, slots=True)
class ReverdictRequest:
    dataset: str | None = None  # None: every dataset
    selection: ClipSelection = ClipSelection()


@dataclass(frozen=True, slots=True)
class MosRequest:
    source: Path | None  # where the audio is (None: <work>/datasets/<dataset>)
    dataset: str | None = None
    selection: ClipSelection = ClipSelection()
    audio_column: str = "audio"
    text_column: str = "text"


@dataclass
class ScanReport:
    """What a scan over stored clips did."""

    command: str
    files: int = 0  # clips written
    audio_s: float = 0.0
    wall_s: float = 0.0
    kept: int = 0
    changed: int = 0  # keep decisions that differ from the stored ones
    skipped: int = 0  # clips with nothing to work on (no stored transcript, no audio)
    would_escalate: int = 0  # reverdict: the cascade would now ask the secondary engine
    unchanged: int = 0  # reverdict: clips whose new rows equal the stored ones (not rewritten)
    scored: int = 0  # score_mos: clips the judges scored
    judges: list[str] = field(default_factory=list)
    database: DatabaseOutcome = DatabaseOutcome(attempted=False)

    @property
    def rate(self) -> float:
        return self.files / self.wall_s if self.wall_s else 0.0


def _open_store(settings: Settings, command: str, args: dict, dataset: str | None, reporter: Reporter):
    store, run_id = start_run_or_warn(settings, command, args, dataset or "*", "nowhere", reporter)
    if store is None:
        raise JobError(f"{command} reads the stored results: the database is needed")
    return store, run_id


def _finish(store: Store, run_id: int | None, report: ScanReport, error: str | None) -> None:
    if run_id is None:
        return
    counts = {"files": report.files, "kept": report.kept, "changed": report.changed, "skipped": report.skipped}
    if report.command == "reverdict":
        counts["unchanged"] = report.unchanged
    try:
        store.finish_run(
            run_id,
            status="ok" if error is None else "failed",
            counts=counts,
            audio_s=report.audio_s,
            wall_s=report.wall_s,
            error=error,
        )
    except StoreUnavailable:
        pass


def reverdict_workers(settings: Settings, clips: int) -> int:
    """Worker processes for a re-verdict of ``clips`` clips (1 = this process): ``PIPELINE_WORKERS``
    (0 = one per core), each worth its start-up only with enough clips. On 2 quiet vCPUs two
    workers judge 1.3-1.4x as many clips per second as one process (BENCHMARKS.md)."""
    wanted = settings.workers or os.cpu_count() or 1
    return max(1, min(wanted, clips // MIN_CLIPS_PER_REVERDICT_WORKER))


def reverdict(request: ReverdictRequest, settings: Settings, reporter: Reporter | None = None) -> ScanReport:
    """Re-apply the current rules to the stored transcripts of the selected clips: pages of
    stored clips spread over worker processes, each worker reading, judging and writing its own
    pages (a page is written before its counts come back)."""
    from pipeline.runner import LocalRunner

    _refuse_escalated(request.selection)
    reporter = reporter or LogReporter()
    started = time.perf_counter()
    report = ScanReport("reverdict")
    args = {"dataset": request.dataset, "selection": _selection_args(request.selection)}
    store, run_id = _open_store(settings, "reverdict", args, request.dataset, reporter)
    total, audio_total = _totals(store, request.dataset, request.selection)
    stage = ReverdictStage(rules_from(settings), store.url, REVERDICT_PAGE_SIZE)
    runner = LocalRunner(reverdict_workers(settings, total))
    reporter.start("reverdict", total, audio_total)
    error = None
    try:
        spans = page_spans(store, request.dataset, request.selection, stage.resources.batch_size)
        for _, outcomes in runner.map_batches(stage, _batched(spans, REVERDICT_PAGES_PER_BATCH)):
            for outcome in outcomes:
                if isinstance(outcome, ItemFailure):  # the stage makes none; be loud if it ever does
                    raise RuntimeError(f"reverdict failed on {outcome.item_id}: {outcome.error}")
                for done in outcome.clips:
                    _count(report, done)
                    reporter.advance("reverdict", 1, done.audio_s)
    except StoreUnavailable as exc:
        error = str(exc)
        raise JobError(f"reverdict stopped: {exc} (clips written so far keep their new verdicts)") from exc
    finally:
        reporter.finish("reverdict")
        report.wall_s = time.perf_counter() - started
        report.database = DatabaseOutcome(attempted=True, rows=report.files - report.unchanged, error=error)
        _finish(store, run_id, report, error)
    return report


def _batched(items: Iterator[PageSpan], size: int) -> Iterator[list[PageSpan]]:
    """``items`` in lists of ``size`` (the last one shorter), drawn lazily."""
    while batch := list(islice(items, size)):
        yield batch


def _count(report: ScanReport, done: Rejudged) -> None:
    if not done.judged:
        report.skipped += 1
        return
    report.files += 1
    report.audio_s += done.audio_s
    report.kept += bool(done.keep)
    report.changed += done.keep != done.was_kept
    report.would_escalate += done.would_escalate
    report.unchanged += done.unchanged


def rules_from(settings: Settings) -> Rules:
    from pipeline.jobs.validate import clip_checks_from

    return Rules(settings.thresholds, clip_checks_from(settings))


def _refuse_escalated(selection: ClipSelection) -> None:
    if selection.only == Only.escalated:
        raise JobError(ESCALATED_NEEDS_SECONDARY)


def _selection_args(selection: ClipSelection) -> dict:
    return {"only": str(selection.only), "limit": selection.limit, "voice": selection.voice, "book": selection.book}


def _totals(store: Store, dataset: str | None, selection: ClipSelection) -> tuple[int, float]:
    """(clips, audio seconds) the selection takes, for the progress bar."""
    from psycopg import sql

    where = [selection.where()]
    params: list = []
    if dataset is not None:
        where.append(sql.SQL("dataset = %s"))
        params.append(dataset)
    query = sql.SQL("SELECT count(*), COALESCE(sum(duration_s), 0) FROM audio_quality WHERE {}").format(
        sql.SQL(" AND ").join(where)
    )
    with store.session("counting clips") as conn:
        count, audio = conn.execute(query, params).fetchone()
    if selection.limit is not None and count > selection.limit:
        audio = audio * selection.limit / count
        count = selection.limit
    return int(count), float(audio)


def score_mos(request: MosRequest, settings: Settings, reporter: Reporter | None = None) -> ScanReport:
    """Score the selected clips with the MOS judges (``settings.mos_judges``), whatever
    ``--mos-mode`` says; keep follows when ``keep_min_mos`` is set."""
    from judges.base import AudioItem
    from pipeline.fingerprints import mos_fingerprint
    from pipeline.jobs.validate import ValidateRequest, audio_seconds, discover_clips, map_by_key, mos_plan
    from pipeline.runner import LocalRunner
    from pipeline.stages.quality import ScoreStage, mos_row

    _refuse_escalated(request.selection)
    reporter = reporter or LogReporter()
    started = time.perf_counter()
    report = ScanReport("mos")
    as_validate = ValidateRequest(request.source, request.dataset, audio_column=request.audio_column)
    as_validate = replace(as_validate, text_column=request.text_column)
    dataset = as_validate.dataset_name
    clips = discover_clips(as_validate, settings, reporter)
    plan = mos_plan(settings.model_copy(update={"mos_mode": "all"}), reporter)
    if not plan.judges:
        raise JobError("no MOS judge can run here (see above): nothing to score")
    report.judges = [j.info.name for j in plan.judges]
    args = {"source": str(as_validate.source_in(settings)), "selection": _selection_args(request.selection)}
    store, run_id = _open_store(settings, "mos", args, dataset, reporter)
    stored, chosen = stored_state(store, dataset, [c.file_hash for c in clips], request.selection)
    taken = [c for c in clips if c.file_hash in chosen][: request.selection.limit]
    durations = {c.file_hash: audio_seconds(c) for c in taken}
    reporter.start("mos", len(taken), sum(durations.values()))
    error = None
    try:
        items = [AudioItem(c.file_hash, c.audio_path, c.text) for c in taken]
        scores: dict[str, list] = {item.key: [] for item in items}
        share = 1 / len(plan.judges)  # each judge's pass is its share of the progress

        def scored(item: AudioItem, result) -> None:
            scores[item.key].append(result)
            reporter.advance("mos", 0, durations[item.key] * share)

        for judge in plan.judges:  # one model in memory at a time
            reporter.relabel("mos", judge.info.name)
            map_by_key(LocalRunner(1), ScoreStage(judge), items, lambda i: i.key, scored)
            reporter.advance("mos", len(items) if judge is plan.judges[-1] else 0)
        fingerprint = mos_fingerprint(f"mos-only {request.selection.only}", 1.0, plan.seed, _versions(plan))
        entries = []
        for clip in taken:
            row = mos_row(scores[clip.file_hash], plan.seed)
            if row["composite_mos"] is None:
                report.skipped += 1
                continue
            report.scored += 1
            key = {"file_hash": clip.file_hash, "dataset": dataset}
            groups = {"mos": {**key, **row}}
            identity = {"path": clip.path, "text": clip.text, "fingerprints": {"mos_only": fingerprint}}
            groups["verdicts_identity"] = {**key, **identity}
            entries.append((clip, groups))
        _write_mos(store, entries, stored, settings, report)
        report.audio_s = sum(durations[c.file_hash] for c, _ in entries)
    except StoreUnavailable as exc:
        error = str(exc)
        raise JobError(f"MOS scan stopped: {exc}") from exc
    finally:
        reporter.finish("mos")
        report.wall_s = time.perf_counter() - started
        report.database = DatabaseOutcome(attempted=True, rows=report.files, error=error)
        _finish(store, run_id, report, error)
    return report


def _versions(plan) -> dict[str, str]:
    return {j.info.name: j.info.version for j in plan.judges}


def _write_mos(store: Store, entries, stored: dict[str, StoredClip], settings: Settings, report: ScanReport) -> None:
    """The MOS columns (and identity, for clips not stored yet), then keep re-decided for the
    judged clips when a MOS threshold takes part in it."""
    store.upsert("mos", [g["mos"] for _, g in entries])
    store.upsert("audio", [g["verdicts_identity"] for _, g in entries])
    report.files = len(entries)
    if settings.thresholds.keep_min_mos is None:
        return
    rules = rules_from(settings)
    rejudged_entries = []
    for clip, groups in entries:
        if clip.file_hash in stored:
            result = rejudge_stored(stored[clip.file_hash], rules, groups["mos"]["composite_mos"])
            if result is not None:
                decision = clip_decision(result)
                report.changed += (decision.keep if decision else None) != stored[clip.file_hash].row["keep"]
                rejudged_entries.append(reverdict_entry(result))
    write_validation_entries(store, rejudged_entries)
