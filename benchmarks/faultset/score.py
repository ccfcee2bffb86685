"""Score a validated fault set: the validate results log (``<work>/validations/<dataset>.jsonl``,
the same rows the store gets) against ``faults.json``.

A word is *flagged* when its verdict is neither ``pass`` nor one the rules give as an explanation
(every verdict name the code knows, less ``pass`` and the verdicts that count against a clip);
so ``tts_failure``, ``ambiguous``, ``unverified``, an unexplained insertion, and any verdict name
added later that the code does not count as explained, are flags. A fault is *caught at the
word* when a flag lands on a label word the fault touches or its neighbour, or an unexplained
insertion sits at or next to the fault's place. The rules measured are whatever ``verdicts``
holds in the code this runs against: nothing here decides keep or tiers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from faultset.build import ClipSpec
from faultset.faults import FaultKind
from pipeline.manifest import Manifest
from pipeline.reasons import G2P_REASONS
from verdicts import COUNTED_VERDICTS, VERDICT_NAMES

PASS = "pass"
EXPLAINED: frozenset[str] = frozenset(VERDICT_NAMES) - COUNTED_VERDICTS - {PASS}
# Keys a results row may carry for the label position of an insertion (issue 12 adds one);
# without one, the position comes from the insertion's start time among the label words'.
_POSITION_KEYS = ("position", "insert_position", "label_position", "insertion_position")
_TIME_SLACK_S = 0.05
_WORD = re.compile(r"[\w'’-]+")


def is_flag(verdict: str | None) -> bool:
    return verdict is not None and verdict != PASS and verdict not in EXPLAINED


@dataclass
class ClipOutcome:
    clip: str
    kind: str
    voice: str
    book_id: str
    indices: tuple[int, ...]
    keep: bool | None
    tier: str | None
    caught_at_word: bool
    flagged_anywhere: bool
    tts_failure_words: int
    escalated: bool | None = None  # cascade run only
    cascade_keep: bool | None = None
    reject_reasons: list[str] | None = None
    adjusted_wer: float | None = None
    duration_s: float | None = None
    error: str | None = None
    flags: list[dict] = field(default_factory=list)  # flagged rows: where, what was heard, verdict, rule

    @property
    def detected(self) -> bool:
        """Caught at the word and not kept: what the issue's targets ask of a faulty clip."""
        return self.caught_at_word and self.keep is False


def latest_entries(log_path: Path) -> dict[tuple[str, str], dict]:
    """The newest results-log entry per (path, file_hash)."""
    out: dict[tuple[str, str], dict] = {}
    if not log_path.is_file():
        return out
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        verdict = entry.get("groups", {}).get("verdicts", {})
        out[(verdict.get("path"), verdict.get("file_hash"))] = entry
    return out


def insertion_position(row: dict, label_rows: Sequence[dict]) -> int | None:
    """The label index an inserted word comes before: a stored position when the rows have one,
    else from its start time (after every label word that ended before it); None without times."""
    for key in _POSITION_KEYS:
        if row.get(key) is not None:
            return int(row[key])
    start = row.get("start_s")
    if start is None:
        return None
    before = [r["word_index"] for r in label_rows if r.get("end_s") is not None and r["end_s"] <= start + _TIME_SLACK_S]
    return max(before) + 1 if before else 0


def _window(spec: ClipSpec) -> set[int]:
    low, high = min(spec.indices), max(spec.indices)
    return set(range(low - 1, high + 2))


def score_clip(spec: ClipSpec, entry: dict | None, cascade: dict | None = None) -> ClipOutcome:
    outcome = ClipOutcome(spec.clip, spec.kind, spec.voice, spec.book_id, spec.indices, None, None, False, False, 0)
    if entry is None:
        outcome.error = "no validate result for this clip"
        return outcome
    groups = entry["groups"]
    verdict = groups.get("verdicts", {})
    outcome.keep = verdict.get("keep")
    outcome.tier = verdict.get("tier")
    outcome.adjusted_wer = verdict.get("adjusted_wer")
    outcome.reject_reasons = verdict.get("reject_reasons")
    outcome.error = verdict.get("validate_error")
    outcome.duration_s = (groups.get("signal") or groups.get("audio") or {}).get("duration_s")
    words = entry.get("words", [])
    label_rows = [r for r in words if r["word_index"] >= 0]
    window = _window(spec) if spec.indices else set()
    for row in words:
        if not is_flag(row.get("verdict")):
            continue
        inserted = row["word_index"] < 0
        where = insertion_position(row, label_rows) if inserted else row["word_index"]
        outcome.flags.append(
            {
                "at": where,
                "insertion": inserted,
                "label_word": row.get("label_word"),
                "primary_word": row.get("primary_word"),
                "secondary_word": row.get("secondary_word"),
                "verdict": row.get("verdict"),
                "rule": row.get("rule"),
            }
        )
        if where is not None and where in window:
            outcome.caught_at_word = True
    _g2p_flags(outcome, spec)
    outcome.flagged_anywhere = bool(outcome.flags)
    outcome.tts_failure_words = sum(1 for r in label_rows if r.get("verdict") == "tts_failure")
    if cascade is not None:
        cv = cascade["groups"].get("verdicts", {})
        outcome.escalated, outcome.cascade_keep = cv.get("escalated"), cv.get("keep")
    return outcome


def _g2p_flags(outcome: ClipOutcome, spec: ClipSpec) -> None:
    """The G2P audit's findings that cost the clip its place (a reason from ``g2p_reasons``) are
    flags on the label word they name: generate stored each finding with the word it was made on."""
    reasons = set(outcome.reject_reasons or ())
    if not reasons & set(G2P_REASONS.values()):
        return
    label = spec.label.split()
    for flag in spec.g2p_flags:
        if flag.get("fixed") or G2P_REASONS.get(flag["rule"]) not in reasons:
            continue
        at = [i for i, token in enumerate(label) if flag["word"] in _WORD.findall(token)]
        where = min(at, key=lambda i: min(abs(i - j) for j in spec.indices or (i,))) if at else None
        outcome.flags.append({"at": where, "insertion": False, "label_word": flag["word"], "verdict": flag["rule"]})
        if where is not None and where in (_window(spec) if spec.indices else set()):
            outcome.caught_at_word = True


def entries_for(specs: Sequence[ClipSpec], dataset_dir: Path, log_path: Path | None) -> dict[str, dict]:
    """Each clip's newest results-log entry for its current audio (by path and sha256)."""
    if log_path is None:
        return {}
    hashes = {path: row.get("file_hash") for path, row in Manifest.for_dataset(dataset_dir).latest_by_path().items()}
    entries = latest_entries(log_path)
    found = {spec.clip: entries.get((spec.wav_path, hashes.get(spec.wav_path))) for spec in specs}
    return {clip: entry for clip, entry in found.items() if entry is not None}


def score_set(
    specs: Sequence[ClipSpec], entries: dict[str, dict], cascades: dict[str, dict] | None = None
) -> list[ClipOutcome]:
    """One outcome per clip (``entries``/``cascades``: clip -> results-log entry)."""
    return [
        score_clip(spec, entries.get(spec.clip), cascades.get(spec.clip) if cascades is not None else None)
        for spec in specs
    ]


@dataclass(frozen=True, slots=True)
class KindSummary:
    kind: str
    clips: int
    caught_at_word: int
    not_kept: int
    detected: int  # caught at the word and not kept
    flagged_anywhere: int
    tts_failure_clips: int
    tiers: dict[str, int]
    escalated: int | None
    missing: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(outcomes: Iterable[ClipOutcome], kinds: Sequence[str]) -> list[KindSummary]:
    by_kind: dict[str, list[ClipOutcome]] = {k: [] for k in kinds}
    for outcome in outcomes:
        by_kind.setdefault(outcome.kind, []).append(outcome)
    rows = []
    for kind, items in by_kind.items():
        scored = [o for o in items if o.keep is not None]
        cascaded = [o for o in scored if o.escalated is not None]
        rows.append(
            KindSummary(
                kind=kind,
                clips=len(items),
                caught_at_word=sum(o.caught_at_word for o in scored),
                not_kept=sum(o.keep is False for o in scored),
                detected=sum(o.detected for o in scored),
                flagged_anywhere=sum(o.flagged_anywhere for o in scored),
                tts_failure_clips=sum(o.tts_failure_words > 0 for o in scored),
                tiers=dict(sorted(Counter(o.tier or "none" for o in scored).items())),
                escalated=sum(bool(o.escalated) for o in cascaded) if cascaded else None,
                missing=len(items) - len(scored),
            )
        )
    return rows


def kinds_in_order(outcomes: Iterable[ClipOutcome]) -> list[str]:
    present = {o.kind for o in outcomes}
    return [k.value for k in FaultKind if k.value in present]
