"""Tier, keep and escalation arithmetic (thresholds from SPEC)."""

from __future__ import annotations

import pytest

from verdicts import Thresholds, decide_keep, should_escalate, tier_for
from verdicts.summary import adjusted_wer, count_verdicts

T = Thresholds()


@pytest.mark.parametrize(
    ("wer", "conf", "tier"),
    [  # confidences are calibrated probabilities (defaults: strict 0.95, balanced 0.90, permissive 0.80)
        (0.0, 0.99, "strict"),
        (0.019, 0.95, "strict"),  # calibrated confidence at or above the bound
        (0.02, 0.99, "balanced"),  # WER must be strictly below 2 %
        (0.01, 0.949, "balanced"),
        (0.049, 0.90, "balanced"),
        (0.05, 0.99, "permissive"),
        (0.01, 0.85, "permissive"),
        (0.099, 0.80, "permissive"),
        (0.10, 0.99, "reject"),
        (0.0, 0.79, "reject"),
        (0.01, None, "strict"),  # no calibrated confidence: WER alone
        (0.07, None, "permissive"),
    ],
)
def test_tier(wer: float, conf: float | None, tier: str) -> None:
    assert tier_for(wer, conf, T) == tier


def test_tier_thresholds_are_settings() -> None:
    loose = Thresholds(strict_wer=0.5, strict_confidence=0.0)
    assert tier_for(0.3, 0.5, loose) == "strict"


@pytest.mark.parametrize(
    ("counts", "mos", "min_mos", "keep"),
    [
        ({}, None, None, True),
        ({"stt_error": 3, "homophone": 2}, None, None, True),
        ({"unverified": 1}, None, None, False),  # keep means verified
        ({"tts_failure": 1}, None, None, False),
        ({"ambiguous": 1}, 4.5, 3.0, False),
        ({}, 2.9, 3.0, False),
        ({}, 3.0, 3.0, True),
        ({}, None, 3.0, True),  # not judged: does not block
        ({}, 1.0, None, True),  # no MOS threshold set
    ],
)
def test_keep(counts: dict[str, int], mos: float | None, min_mos: float | None, keep: bool) -> None:
    assert decide_keep(counts, mos, Thresholds(keep_min_mos=min_mos)) is keep


@pytest.mark.parametrize(
    ("wer", "conf", "escalate", "reason"),
    [
        (0.0, 0.99, False, None),
        (0.05, 0.90, False, None),  # both exactly at the threshold: not escalated
        (0.051, 0.99, True, "primary WER 5.1% > 5.0%"),
        (0.0, 0.899, True, "calibrated confidence 0.899 < 0.900"),
        (0.2, 0.5, True, "primary WER 20.0% > 5.0%; calibrated confidence 0.500 < 0.900"),
        (0.0, None, False, None),
    ],
)
def test_should_escalate(wer: float, conf: float | None, escalate: bool, reason: str | None) -> None:
    assert should_escalate(wer, conf, T) == (escalate, reason)


def test_escalation_thresholds_are_settings() -> None:
    assert should_escalate(0.08, 0.99, Thresholds(escalate_wer=0.10))[0] is False
    assert should_escalate(0.0, 0.85, Thresholds(escalate_confidence=0.80))[0] is False


def test_adjusted_wer_counts_only_review_verdicts() -> None:
    counts = count_verdicts(
        ["pass"] * 6
        + ["tts_failure", "ambiguous", "unverified", "stt_error", "homophone", "gt_typo", "gt_error"]
        + ["filler_word", "compound", "spelling_variant", "abbreviation", "secondary_error"]
    )
    assert sum(counts.values()) == 18
    assert adjusted_wer(counts, 18) == pytest.approx(3 / 18)
    assert adjusted_wer(count_verdicts([]), 0) == 0.0
