"""Per-file arithmetic: verdict counts, raw and adjusted WER, confidence, tier, keep, escalation.

Example::

    tier_for(0.01, 0.99, Thresholds())        # "strict"
    should_escalate(0.08, 0.99, Thresholds())  # (True, "primary WER 8.0% > 5.0%")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from verdicts.names import COUNTED_VERDICTS, VERDICT_NAMES


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tier, escalation and keep thresholds (settings; defaults from SPEC)."""

    strict_wer: float = 0.02
    strict_confidence: float = 0.98
    balanced_wer: float = 0.05
    balanced_confidence: float = 0.97
    permissive_wer: float = 0.10
    permissive_confidence: float = 0.95
    escalate_wer: float = 0.05  # cascade: run the secondary when primary WER is above this
    escalate_confidence: float = 0.98  # ... or mean word confidence below this
    keep_min_mos: float | None = None  # keep also needs composite MOS >= this (when judged)


@dataclass(frozen=True, slots=True)
class FileSummary:
    n_words: int
    counts: dict[str, int]  # every verdict name, zeros included
    n_insertions: int  # insertion rows no rule explains (filler insertions not counted)
    primary_wer: float
    secondary_wer: float | None
    adjusted_wer: float  # (tts_failure + ambiguous + unverified) / n_words
    conf_mean: float | None  # primary engine's word confidences
    conf_min: float | None
    tier: str  # strict | balanced | permissive | reject
    keep: bool
    escalate: bool  # the primary alone crosses the escalation thresholds
    escalate_reason: str | None


DEFAULT_THRESHOLDS = Thresholds()
TIERS = ("strict", "balanced", "permissive")


def tier_for(primary_wer: float, conf_mean: float | None, thresholds: Thresholds) -> str:
    """The best tier whose WER and confidence bounds the clip meets (strict inequalities).
    A clip without confidences is tiered on WER alone."""
    for name in TIERS:
        max_wer = getattr(thresholds, f"{name}_wer")
        min_conf = getattr(thresholds, f"{name}_confidence")
        if primary_wer < max_wer and (conf_mean is None or conf_mean > min_conf):
            return name
    return "reject"


def decide_keep(counts: Mapping[str, int], mos: float | None, thresholds: Thresholds) -> bool:
    """No tts_failure, no ambiguous word, and (when both are set) MOS >= keep_min_mos.
    A MOS of None means "not judged" and never blocks."""
    if counts.get("tts_failure", 0) or counts.get("ambiguous", 0):
        return False
    if mos is not None and thresholds.keep_min_mos is not None:
        return mos >= thresholds.keep_min_mos
    return True


def should_escalate(
    primary_wer: float, conf_mean: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[bool, str | None]:
    """Whether a cascade sends the clip to the secondary engine, and why (None when not)."""
    reasons = []
    if primary_wer > thresholds.escalate_wer:
        reasons.append(f"primary WER {primary_wer:.1%} > {thresholds.escalate_wer:.1%}")
    if conf_mean is not None and conf_mean < thresholds.escalate_confidence:
        reasons.append(f"mean confidence {conf_mean:.3f} < {thresholds.escalate_confidence:.3f}")
    return (True, "; ".join(reasons)) if reasons else (False, None)


def count_verdicts(verdicts: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICT_NAMES, 0)
    for verdict in verdicts:
        counts[verdict] += 1
    return counts


def adjusted_wer(counts: Mapping[str, int], n_words: int) -> float:
    if n_words == 0:
        return 0.0
    return sum(counts.get(v, 0) for v in COUNTED_VERDICTS) / n_words


def summarize(
    verdicts: Sequence[str],
    *,
    n_insertions: int,
    primary_wer: float,
    secondary_wer: float | None,
    confidences: Sequence[float],
    thresholds: Thresholds,
    mos: float | None = None,
) -> FileSummary:
    counts = count_verdicts(verdicts)
    conf_mean = sum(confidences) / len(confidences) if confidences else None
    conf_min = min(confidences) if confidences else None
    escalate, reason = should_escalate(primary_wer, conf_mean, thresholds)
    return FileSummary(
        n_words=len(verdicts),
        counts=counts,
        n_insertions=n_insertions,
        primary_wer=primary_wer,
        secondary_wer=secondary_wer,
        adjusted_wer=adjusted_wer(counts, len(verdicts)),
        conf_mean=conf_mean,
        conf_min=conf_min,
        tier=tier_for(primary_wer, conf_mean, thresholds),
        keep=decide_keep(counts, mos, thresholds),
        escalate=escalate,
        escalate_reason=reason,
    )
