"""Per-file arithmetic: verdict counts, raw and adjusted WER, confidence (raw and calibrated),
tier, keep and its reasons, escalation.

Example::

    tier_for(0.0, 0.99, Thresholds())           # "strict"
    should_escalate(0.08, 0.99, Thresholds())    # (True, "primary WER 8.0% > 5.0%")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from verdicts.keep import KeepDecision, Thresholds, decide, mos_reasons, tier_for, verdict_reasons
from verdicts.names import COUNTED_VERDICTS, VERDICT_NAMES

__all__ = ["DEFAULT_THRESHOLDS", "FileSummary", "Thresholds", "decide_keep", "should_escalate", "summarize", "tier_for"]


@dataclass(frozen=True, slots=True)
class FileSummary:
    n_words: int
    counts: dict[str, int]  # every verdict name, zeros included
    n_insertions: int  # insertion rows no rule explains (filler insertions not counted)
    n_confirmed_insertions: int  # ... of them heard by every engine that ran
    primary_wer: float
    secondary_wer: float | None
    adjusted_wer: float  # (tts_failure + ambiguous + unverified + unexplained insertion rows) / n_words
    conf_mean: float | None  # primary engine's raw word confidences
    conf_min: float | None
    conf_calibrated: float | None  # their mean calibrated probability (None: engine not calibrated)
    tier: str  # strict | balanced | permissive | reject (always reject when not kept)
    keep: bool
    reasons: tuple[str, ...]  # reject reasons from the words (and MOS when given); empty when kept
    escalate: bool  # the primary alone crosses the escalation thresholds
    escalate_reason: str | None

    @property
    def decision(self) -> KeepDecision:
        return KeepDecision(self.keep, self.reasons, self.tier)


DEFAULT_THRESHOLDS = Thresholds()


def decide_keep(
    counts: Mapping[str, int],
    mos: float | None,
    thresholds: Thresholds,
    *,
    n_words: int = 1,
    confirmed_insertions: int = 0,
    unconfirmed_insertions: int = 0,
) -> bool:
    """No tts_failure, ambiguous or unverified word, no unexplained insertion, something to say,
    and (when both are set) MOS >= keep_min_mos. A MOS of None means "not judged"."""
    reasons = verdict_reasons(counts, n_words, confirmed_insertions, unconfirmed_insertions)
    return not reasons and not mos_reasons(mos, thresholds.keep_min_mos)


def should_escalate(
    primary_wer: float,
    conf_calibrated: float | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    insertions: int = 0,
    unverified: int = 0,
) -> tuple[bool, str | None]:
    """Whether a cascade sends the clip to the secondary engine, and why (None when not). A word
    the primary alone leaves unverified, or extra words it heard, escalate too: a clip is kept only
    when verified, so the second opinion is what can keep it."""
    reasons = []
    if primary_wer > thresholds.escalate_wer:
        reasons.append(f"primary WER {primary_wer:.1%} > {thresholds.escalate_wer:.1%}")
    if conf_calibrated is not None and conf_calibrated < thresholds.escalate_confidence:
        reasons.append(f"calibrated confidence {conf_calibrated:.3f} < {thresholds.escalate_confidence:.3f}")
    if unverified:
        reasons.append(f"{unverified} unverified word(s)")
    if insertions:
        reasons.append(f"{insertions} unexplained insertion(s)")
    return (True, "; ".join(reasons)) if reasons else (False, None)


def count_verdicts(verdicts: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICT_NAMES, 0)
    for verdict in verdicts:
        counts[verdict] += 1
    return counts


def adjusted_wer(counts: Mapping[str, int], n_words: int, n_insertions: int = 0) -> float:
    """Counted verdicts plus unexplained insertion rows, per label word. A label with no words
    scores 1.0 when something was heard, else 0.0."""
    errors = sum(counts.get(v, 0) for v in COUNTED_VERDICTS) + n_insertions
    if n_words == 0:
        return 1.0 if errors else 0.0
    return errors / n_words


def summarize(
    verdicts: Sequence[str],
    *,
    n_insertions: int,
    primary_wer: float,
    secondary_wer: float | None,
    confidences: Sequence[float],
    thresholds: Thresholds,
    mos: float | None = None,
    n_confirmed_insertions: int | None = None,
    calibrated: Sequence[float] | None = None,
) -> FileSummary:
    counts = count_verdicts(verdicts)
    confirmed = n_insertions if n_confirmed_insertions is None else n_confirmed_insertions
    conf_mean = sum(confidences) / len(confidences) if confidences else None
    conf_min = min(confidences) if confidences else None
    conf_calibrated = sum(calibrated) / len(calibrated) if calibrated else None
    adjusted = adjusted_wer(counts, len(verdicts), n_insertions)
    escalate, reason = should_escalate(
        primary_wer, conf_calibrated, thresholds, insertions=n_insertions, unverified=counts["unverified"]
    )
    decision = decide(
        [
            verdict_reasons(counts, len(verdicts), confirmed, n_insertions - confirmed),
            mos_reasons(mos, thresholds.keep_min_mos),
        ],
        adjusted,
        conf_calibrated,
        thresholds,
    )
    return FileSummary(
        n_words=len(verdicts),
        counts=counts,
        n_insertions=n_insertions,
        n_confirmed_insertions=confirmed,
        primary_wer=primary_wer,
        secondary_wer=secondary_wer,
        adjusted_wer=adjusted,
        conf_mean=conf_mean,
        conf_min=conf_min,
        conf_calibrated=conf_calibrated,
        tier=decision.tier,
        keep=decision.keep,
        reasons=decision.reasons,
        escalate=escalate,
        escalate_reason=reason,
    )
