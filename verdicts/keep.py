"""Keep or not, and why: the one place a clip's reject reasons are put together.

A clip is kept only when no source gives a reason against it. Sources are plain lists of reason
ids: the verdicts' own (``verdict_reasons``), the MOS judges' (``low_mos``), and whatever other
checks the pipeline runs (speaker similarity, DSP, timing: each adds its ids to the list handed
to ``decide``). A clip that is not kept is always tier ``reject``.

Example::

    decide([verdict_reasons(summary_counts, 40, 1, 0), ["low_mos"]], 0.0, 0.97, Thresholds())
    # KeepDecision(keep=False, reasons=('insertion', 'low_mos'), tier='reject')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tier, escalation and keep thresholds (settings). Confidences are calibrated probabilities
    that a word is right (``verdicts.calibration``), the mean over the primary engine's words."""

    strict_wer: float = 0.02  # adjusted WER below this ...
    strict_confidence: float = 0.95  # ... and calibrated confidence at least this
    balanced_wer: float = 0.05
    balanced_confidence: float = 0.90
    permissive_wer: float = 0.10
    permissive_confidence: float = 0.80
    escalate_wer: float = 0.05  # cascade: run the secondary when primary WER is above this
    escalate_confidence: float = 0.90  # ... or its calibrated confidence below this (or extra words)
    keep_min_mos: float | None = None  # keep also needs composite MOS >= this (when judged)
    # A label word an engine heard as another word is a recognizer mistake when that engine,
    # forced to read the label, gives the label word at least this probability (None: rule off).
    label_plausible_min: float | None = 0.1
    # A word or two said twice counts as heard when an engine, forced to choose, gives the doubled
    # reading a log-likelihood ratio to the label above this (nats; 0: the likelier reading). -2.5:
    # clean speech stays below -3.3 (whole Alice, 532 transcripts; two detection draws, 400: -5.3),
    # while short repeated words an engine prefers to hear once sit at -1 to -2.6 (BENCHMARKS.md).
    repeat_min_llr: float = -2.5


# --- reason ids (audio_quality.reject_reasons) --------------------------------------------------
TTS_FAILURE = "tts_failure"  # a label word both engines heard wrong the same way
AMBIGUOUS = "ambiguous"  # a label word both engines heard wrong, differently
UNVERIFIED = "unverified"  # only one engine ran and it disagrees with a word, unexplained
INSERTION = "insertion"  # extra words every engine that ran heard, no rule explains them
AMBIGUOUS_INSERTION = "ambiguous_insertion"  # extra words one engine of two heard
UNSPEAKABLE_LABEL = "unspeakable_label"  # the label has no word to say (punctuation only)
LOW_MOS = "low_mos"  # composite MOS below PIPELINE_KEEP_MIN_MOS

# The order reasons are listed in; ids from other sources follow, alphabetically.
REASON_ORDER: tuple[str, ...] = (
    TTS_FAILURE,
    INSERTION,
    AMBIGUOUS,
    AMBIGUOUS_INSERTION,
    UNVERIFIED,
    UNSPEAKABLE_LABEL,
    LOW_MOS,
)
_RANK = {reason: k for k, reason in enumerate(REASON_ORDER)}


TIERS = ("strict", "balanced", "permissive")


def tier_for(wer: float, confidence: float | None, thresholds: Thresholds) -> str:
    """The best tier whose bounds the clip meets: WER below ``<tier>_wer`` and calibrated
    confidence at or above ``<tier>_confidence``. Without a calibrated confidence (an engine with
    no calibration table) the clip is tiered on WER alone."""
    for name in TIERS:
        max_wer = getattr(thresholds, f"{name}_wer")
        min_conf = getattr(thresholds, f"{name}_confidence")
        if wer < max_wer and (confidence is None or confidence >= min_conf):
            return name
    return "reject"


@dataclass(frozen=True, slots=True)
class KeepDecision:
    keep: bool
    reasons: tuple[str, ...]  # empty when kept
    tier: str  # strict | balanced | permissive | reject


def verdict_reasons(
    counts: Mapping[str, int], n_words: int, confirmed_insertions: int, unconfirmed_insertions: int
) -> tuple[str, ...]:
    """Reasons the words alone give: a counted verdict, an unexplained insertion, nothing to say."""
    reasons = [name for name in (TTS_FAILURE, AMBIGUOUS, UNVERIFIED) if counts.get(name, 0)]
    if confirmed_insertions:
        reasons.append(INSERTION)
    if unconfirmed_insertions:
        reasons.append(AMBIGUOUS_INSERTION)
    if n_words == 0:
        reasons.append(UNSPEAKABLE_LABEL)
    return reject_reasons(reasons)


def mos_reasons(mos: float | None, keep_min_mos: float | None) -> tuple[str, ...]:
    """``low_mos`` when both are set and the MOS is below the minimum (None = not judged)."""
    if mos is None or keep_min_mos is None or mos >= keep_min_mos:
        return ()
    return (LOW_MOS,)


def reject_reasons(*sources: Iterable[str]) -> tuple[str, ...]:
    """Every reason from every source once, in ``REASON_ORDER`` (unknown ids after, sorted)."""
    found = {reason for source in sources for reason in source}
    return tuple(sorted(found, key=lambda r: (_RANK.get(r, len(_RANK)), r)))


def with_reasons(decision: KeepDecision, *sources: Iterable[str]) -> KeepDecision:
    """``decision`` (the words') with more sources' reasons: any reason makes it a reject."""
    reasons = reject_reasons(decision.reasons, *sources)
    return KeepDecision(not reasons, reasons, decision.tier if not reasons else "reject")


def decide(
    sources: Iterable[Iterable[str]],
    adjusted_wer: float,
    calibrated_confidence: float | None,
    thresholds: Thresholds,
) -> KeepDecision:
    """Keep when no source has a reason; the tier of a kept clip from its adjusted WER and its
    primary engine's mean calibrated confidence; ``reject`` otherwise."""
    reasons = reject_reasons(*sources)
    if reasons:
        return KeepDecision(False, reasons, "reject")
    return KeepDecision(True, (), tier_for(adjusted_wer, calibrated_confidence, thresholds))
