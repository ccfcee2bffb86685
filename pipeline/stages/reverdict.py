"""The re-verdict stage: a stored clip (its ``audio_quality`` columns and stored transcripts) judged
again with the current rules, no ASR and no audio (``pipeline validate --reverdict``, and the
keep update of a MOS-only scan). Each result is the clip's new rows, ready to write.

A page of stored clips is one item: its keyset bounds go to a worker, which reads the page,
judges it and writes the rows that changed, so the runner can spread pages over worker
processes with nothing but bounds and counts crossing between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from pipeline.clip_checks import ClipCheckThresholds
from pipeline.fingerprints import verdicts_fingerprint
from pipeline.keep import clip_decision
from pipeline.records import ClipResult, ClipSource
from pipeline.stages.base import ItemFailure, Resources, Stage
from pipeline.stages.verdicts import StoredQuality, rejudged
from pipeline.store.rows import VERDICT_OUTPUT_GROUPS, VERDICT_OUTPUT_KEY, validation_entry
from pipeline.store.scans import PageSpan, StoredClip, read_page
from pipeline.store.store import Store, write_rejudged
from pipeline.store.transcripts import transcript_from_row
from verdicts import Thresholds


@dataclass(frozen=True, slots=True)
class Rules:
    """What a re-verdict applies."""

    thresholds: Thresholds
    checks: ClipCheckThresholds


def clip_from_row(row: dict, fed_phonemes: tuple[str, ...] | None = None) -> ClipSource:
    """A stored clip as the verdict step sees it (its audio is not read); ``fed_phonemes``
    stands in for a row without ``word_phonemes``."""
    return ClipSource(
        file_hash=row["file_hash"],
        dataset=row["dataset"],
        audio_path=row["path"] or "",
        path=row["path"] or "",
        text=row["text"],
        voice_recipe=row["voice_recipe"],
        g2p_flags=tuple(row["g2p_details"] or ()),
        word_times=tuple(row["word_times"]) if row["word_times"] is not None else None,
        word_phonemes=tuple(row["word_phonemes"]) if row["word_phonemes"] else fed_phonemes,
    )


def _used(stored: StoredClip, role: str) -> bool:
    """Whether the stored verdicts rest on the stored transcript of ``role`` (older rows without
    fingerprints: whichever transcripts are stored)."""
    prints = stored.fingerprints
    return role in stored.transcripts and (role not in prints or prints[role] is not None)


def rejudge_stored(stored: StoredClip, rules: Rules, composite_mos: float | None = None) -> ClipResult | None:
    """``stored`` judged with the current rules (``composite_mos``: a new score instead of the
    stored one); None when it has nothing to judge (no label, or no stored transcript)."""
    row = stored.row
    p, s = (transcript_from_row(stored.transcripts[r]) if _used(stored, r) else None for r in ("primary", "secondary"))
    if row["text"] is None or (p is None and s is None):
        return None
    quality = StoredQuality(
        composite_mos=composite_mos if composite_mos is not None else row["composite_mos"],
        clip_reasons=tuple(row["clip_reasons"] or ()),
        clip_checks=row["clip_checks"],
        speaker_similarity=row["speaker_similarity"],
    )
    escalated = bool(row["escalated"]) and s is not None and p is not None
    reason = row["escalation_reason"] if escalated else None
    clip = clip_from_row(row, stored.fed_phonemes)
    result = rejudged(clip, p, s, escalated, reason, quality, rules.thresholds, rules.checks)
    engines = (stored.fingerprints.get("verdicts") or {}).get("engines", "cascade")
    return replace(result, fingerprints={"verdicts": verdicts_fingerprint(rules.thresholds, engines)})


def reverdict_entry(result: ClipResult) -> dict:
    """The rows a re-verdict writes for ``result`` (``write_validation_entries`` shape)."""
    entry = validation_entry(result)
    entry["groups"] = {g: row for g, row in entry["groups"].items() if g in VERDICT_OUTPUT_GROUPS}
    entry["transcripts"] = []  # unchanged
    return entry


@dataclass(frozen=True, slots=True)
class Rejudged:
    """One stored clip after a re-verdict: what was decided and whether its rows were rewritten
    (the rows themselves are written by the worker that judged them)."""

    keep: bool | None
    was_kept: bool | None
    would_escalate: bool  # no secondary words, and the cascade would now ask for them
    audio_s: float
    judged: bool  # False: nothing to judge (no label, or no stored transcript)
    # The new rows decide exactly what is stored: nothing rewritten (at most the fingerprints,
    # when the rules' fingerprint changed).
    unchanged: bool = False


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """A page of a re-verdict, judged and written: one ``Rejudged`` per clip, in scan order."""

    clips: tuple[Rejudged, ...]


def decided_as_stored(stored: StoredClip, entry: dict) -> bool:
    """Whether ``entry`` decides exactly what ``stored`` holds (by the digest of the decided
    columns and word rows stored with it; rows written before the digest existed: no)."""
    stored_digest = stored.fingerprints.get(VERDICT_OUTPUT_KEY)
    new_digest = entry["groups"]["verdicts"].get("fingerprints", {}).get(VERDICT_OUTPUT_KEY)
    return stored_digest is not None and stored_digest == new_digest


def _fingerprints_refresh(stored: StoredClip, entry: dict) -> dict | None:
    """The new fingerprints when they differ from the stored ones (None: nothing to update)."""
    prints = entry["groups"]["verdicts"].get("fingerprints") or {}
    return prints if any(stored.fingerprints.get(k) != v for k, v in prints.items()) else None


class ReverdictStage(Stage[PageSpan, PageOutcome]):
    """Pages of stored clips (their keyset bounds) -> judged and written. Each worker reads its
    own pages, judges them and writes what changed, so only page bounds and counts cross process
    boundaries and the reads and writes of several workers run side by side. Within a batch of
    pages, a page is written on a thread while the next one is read and judged (the database
    works while Python judges); every page is written before ``process_batch`` returns. Loads
    nothing heavy but the verdicts' lexicon (on first use, once per worker)."""

    name = "reverdict"

    def __init__(self, rules: Rules, database_url: str, page_size: int = 250) -> None:
        self.rules = rules
        self.database_url = database_url
        self.resources = Resources(cpus=1, batch_size=page_size)  # clips per page
        self._store: Store | None = None
        self._writer: ThreadPoolExecutor | None = None

    def setup(self) -> None:
        self._store = Store(self.database_url, auto_migrate=False)  # the driver migrated
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="reverdict-writer")

    def teardown(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    def process_batch(self, items: Sequence[PageSpan]) -> list[PageOutcome | ItemFailure]:
        assert self._store is not None and self._writer is not None, "setup() was not called"
        outcomes: list[PageOutcome | ItemFailure] = []
        writing: Future | None = None
        try:
            for span in items:
                outcome, entries, refreshes = self._judge_page(self._store, span)
                if writing is not None:
                    writing.result()  # one write at a time, in page order
                writing = self._writer.submit(write_rejudged, self._store, entries, refreshes)
                outcomes.append(outcome)
        finally:
            if writing is not None:
                writing.result()
        return outcomes

    def _judge_page(self, store: Store, span: PageSpan) -> tuple[PageOutcome, list[dict], list[tuple[str, str, dict]]]:
        """A page's outcome and what to write for it (rows that changed, fingerprint refreshes)."""
        clips: list[Rejudged] = []
        entries: list[dict] = []
        refreshes: list[tuple[str, str, dict]] = []
        for stored in read_page(store, span):
            outcome = judge_stored(stored, self.rules)
            clips.append(outcome.rejudged)
            if outcome.entry is not None:
                entries.append(outcome.entry)
            elif outcome.refresh is not None:
                refreshes.append(outcome.refresh)
        return PageOutcome(tuple(clips)), entries, refreshes


@dataclass(frozen=True, slots=True)
class StoredJudgement:
    """One stored clip judged again: the outcome, and what to write for it: its changed rows
    (``entry``) or, when they come out as stored, at most a fingerprint refresh."""

    rejudged: Rejudged
    result: ClipResult | None  # None: nothing to judge
    entry: dict | None = None
    refresh: tuple[str, str, dict] | None = None


def judge_stored(stored: StoredClip, rules: Rules) -> StoredJudgement:
    """``stored`` judged with ``rules`` (``rejudge_stored``) and compared with what it holds."""
    result = rejudge_stored(stored, rules)
    audio_s = stored.row["duration_s"] or 0.0
    if result is None:
        return StoredJudgement(Rejudged(None, stored.row["keep"], False, audio_s, judged=False), None)
    decision = clip_decision(result)
    escalate = result.secondary is None and result.verdicts is not None and result.verdicts.summary.escalate
    entry = reverdict_entry(result)
    same = decided_as_stored(stored, entry)
    refresh = None
    if same and (prints := _fingerprints_refresh(stored, entry)) is not None:
        refresh = (stored.row["file_hash"], stored.row["dataset"], prints)
    keep = decision.keep if decision is not None else None
    rejudged = Rejudged(keep, stored.row["keep"], escalate, audio_s, judged=True, unchanged=same)
    return StoredJudgement(rejudged, result, None if same else entry, refresh)
