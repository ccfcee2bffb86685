"""The re-verdict stage: a stored clip (its ``audio_quality`` columns and stored transcripts) judged
again with the current rules, no ASR and no audio (``pipeline validate --reverdict``, and the
keep update of a MOS-only scan). Each result is the clip's new rows, ready to write.

A page of stored clips is one batch, so the runner can spread pages over worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.clip_checks import ClipCheckThresholds
from pipeline.fingerprints import verdicts_fingerprint
from pipeline.keep import clip_decision
from pipeline.records import ClipResult, ClipSource
from pipeline.stages.base import ItemFailure, Resources, Stage
from pipeline.stages.verdicts import StoredQuality, rejudged
from pipeline.store.rows import VERDICT_OUTPUT_GROUPS, VERDICT_OUTPUT_KEY, validation_entry
from pipeline.store.scans import StoredClip
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
    """One stored clip after a re-verdict: its rows (None: nothing to judge) and what changed."""

    entry: dict | None
    keep: bool | None
    was_kept: bool | None
    would_escalate: bool  # no secondary words, and the cascade would now ask for them
    audio_s: float
    # The rows decide exactly what is stored (nothing to write but, when the rules' fingerprint
    # changed, the fingerprints: ``refresh``).
    unchanged: bool = False
    refresh: dict | None = None


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


class ReverdictStage(Stage[StoredClip, Rejudged]):
    """Stored clips -> their re-judged rows. Loads nothing heavy but the verdicts' lexicon (on
    first use, once per worker)."""

    name = "reverdict"

    def __init__(self, rules: Rules, batch_size: int = 250) -> None:
        self.rules = rules
        self.resources = Resources(cpus=1, batch_size=batch_size)

    def process_batch(self, items: Sequence[StoredClip]) -> list[Rejudged | ItemFailure]:
        out: list[Rejudged | ItemFailure] = []
        for stored in items:
            result = rejudge_stored(stored, self.rules)
            audio_s = stored.row["duration_s"] or 0.0
            if result is None:
                out.append(Rejudged(None, None, stored.row["keep"], False, audio_s))
                continue
            decision = clip_decision(result)
            escalate = result.secondary is None and result.verdicts is not None and result.verdicts.summary.escalate
            keep = decision.keep if decision is not None else None
            entry = reverdict_entry(result)
            same = decided_as_stored(stored, entry)
            refresh = _fingerprints_refresh(stored, entry) if same else None
            out.append(Rejudged(entry, keep, stored.row["keep"], escalate, audio_s, same, refresh))
        return out
