"""The verdict step: one clip's transcripts -> a ``ClipResult`` with a verdict for every label word
(rules in ``verdicts/``), and the cascade's decision whether a clip goes to the second engine.

Engine modes (``pipeline.choices.EngineMode``): ``primary`` | ``secondary`` (only that engine) |
``both`` | ``cascade`` (primary on all, secondary only where the primary's WER or confidence
crosses the escalation thresholds).
"""

from __future__ import annotations

from judges.base import Transcript
from pipeline.choices import EngineMode
from pipeline.lexicon import g2p_lexicon
from pipeline.records import ClipResult, ClipSource
from verdicts import Hypothesis, Thresholds, judge_words, should_escalate


def hypothesis(transcript: Transcript | None) -> Hypothesis | None:
    if transcript is None or transcript.error is not None:
        return None
    return Hypothesis(
        engine=transcript.engine,
        text=transcript.text,
        words=transcript.words,
    )


def combine(
    clip: ClipSource,
    primary: Transcript | None,
    secondary: Transcript | None,
    escalated: bool,
    reason: str | None,
    thresholds: Thresholds,
) -> ClipResult:
    """Verdicts for one clip from whichever transcripts exist."""
    errors = [t.error for t in (primary, secondary) if t is not None and t.error]
    main, other = hypothesis(primary), hypothesis(secondary)
    if main is None and other is not None:  # secondary-only mode, or the primary failed on this file
        main, other = other, None
    if clip.problem or clip.text is None:
        return ClipResult(clip, primary, secondary, escalated, reason, None, clip.problem or "no label")
    if main is None:
        return ClipResult(clip, primary, secondary, escalated, reason, None, "; ".join(errors) or "no transcript")
    verdicts = judge_words(clip.text, main, other, thresholds, lexicon=g2p_lexicon())
    return ClipResult(clip, primary, secondary, escalated, reason, verdicts, "; ".join(errors) or None)


def decide_escalation(
    clip: ClipSource, primary: Transcript, engines: EngineMode | str, thresholds: Thresholds
) -> tuple[bool, str | None]:
    if engines == EngineMode.both:
        return True, "engines=both"
    if engines != EngineMode.cascade:
        return False, None
    if primary.error is not None:
        return True, f"primary failed: {primary.error}"
    if clip.text is None:
        return False, None
    solo = judge_words(clip.text, hypothesis(primary), None, thresholds, lexicon=g2p_lexicon())
    confidences = primary.confidences
    conf_mean = sum(confidences) / len(confidences) if confidences else None
    return should_escalate(solo.summary.primary_wer, conf_mean, thresholds)
