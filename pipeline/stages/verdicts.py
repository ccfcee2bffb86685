"""The verdict step: one clip's transcripts -> a ``ClipResult`` with a verdict for every label word
(rules in ``verdicts/``), and the cascade's decision whether a clip goes to the second engine.

Engine modes (``pipeline.choices.EngineMode``): ``primary`` | ``secondary`` (only that engine) |
``both`` | ``cascade`` (primary on all, secondary only where the primary's WER or calibrated
confidence crosses the escalation thresholds, or it leaves a word unverified or heard extra words
no rule explains: ``verdicts.should_escalate``).

The words are judged against what Kokoro was fed for each label word: the manifest's
``word_phonemes``, or for other data the project G2P of the label.
"""

from __future__ import annotations

from judges.base import Transcript
from pipeline.calibration import calibration_for
from pipeline.choices import EngineMode
from pipeline.lexicon import fed_phonemes, g2p_lexicon
from pipeline.records import ClipResult, ClipSource
from verdicts import Hypothesis, Thresholds, judge_words


def hypothesis(transcript: Transcript | None) -> Hypothesis | None:
    """What one engine heard, with its confidence calibration (when the repo has one)."""
    if transcript is None or transcript.error is not None:
        return None
    return Hypothesis(
        engine=transcript.engine,
        text=transcript.text,
        words=transcript.words,
        calibration=calibration_for(transcript.engine, transcript.model),
    )


def _judge(clip: ClipSource, main: Hypothesis, other: Hypothesis | None, thresholds: Thresholds):
    assert clip.text is not None
    fed = clip.word_phonemes or fed_phonemes(clip.text)
    return judge_words(clip.text, main, other, thresholds, lexicon=g2p_lexicon(), fed_phonemes=fed)


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
    verdicts = _judge(clip, main, other, thresholds)
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
    main = hypothesis(primary)
    assert main is not None
    summary = _judge(clip, main, None, thresholds).summary
    return summary.escalate, summary.escalate_reason
