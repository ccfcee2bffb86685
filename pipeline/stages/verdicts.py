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

from dataclasses import dataclass, replace

from judges.base import Transcript
from pipeline import reasons as R
from pipeline.calibration import calibration_for
from pipeline.choices import EngineMode
from pipeline.clip_checks import ClipCheckThresholds, timing_reasons
from pipeline.lexicon import fed_phonemes, g2p_lexicon, same_sound_in
from pipeline.reasons import CLIP_REASONS
from pipeline.records import ClipResult, ClipSource
from verdicts import Hypothesis, Thresholds, judge_words


@dataclass(frozen=True, slots=True)
class StoredQuality:
    """What a re-verdict keeps of a clip's stored quality columns."""

    composite_mos: float | None = None
    clip_reasons: tuple[str, ...] = ()
    clip_checks: dict | None = None
    speaker_similarity: float | None = None


def hypothesis(transcript: Transcript | None) -> Hypothesis | None:
    """What one engine heard, with its confidence calibration (when the repo has one)."""
    if transcript is None or transcript.error is not None:
        return None
    return Hypothesis(
        engine=transcript.engine,
        text=transcript.text,
        words=transcript.words,
        calibration=calibration_for(transcript.engine, transcript.model),
        label_probs=transcript.label_probs,
        listens=transcript.listens,
        repeats=transcript.repeats,
    )


def _judge(clip: ClipSource, main: Hypothesis, other: Hypothesis | None, thresholds: Thresholds):
    assert clip.text is not None
    fed = clip.word_phonemes or fed_phonemes(clip.text)
    return judge_words(
        clip.text, main, other, thresholds, lexicon=g2p_lexicon(), fed_phonemes=fed, same_sound=same_sound_in
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
    if clip.problem or clip.text is None:  # an unusable label is an error; no label at all is not
        return ClipResult(clip, primary, secondary, escalated, reason, None, clip.problem)
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


TIMING_REASONS = (R.TIMING_MISMATCH, R.TRUNCATED)  # the clip checks that read the verdict words


def rejudged(
    clip: ClipSource,
    primary: Transcript | None,
    secondary: Transcript | None,
    escalated: bool,
    reason: str | None,
    stored: StoredQuality,
    thresholds: Thresholds,
    checks: ClipCheckThresholds,
) -> ClipResult:
    """A stored clip judged again with the current rules, from its stored transcripts and quality
    columns (no ASR, no audio): its verdicts, the MOS part of keep against the current
    ``keep_min_mos``, and the timing checks (they read the verdict words) against the stored
    speech end; the other clip checks' reasons stay as stored."""
    result = combine(clip, primary, secondary, escalated, reason, thresholds)
    mos = stored.composite_mos
    rejected = mos is not None and thresholds.keep_min_mos is not None and mos < thresholds.keep_min_mos
    measured = dict(stored.clip_checks or {})
    words = result.verdicts.words if result.verdicts is not None else ()
    timing, timing_measured = timing_reasons(clip.word_times, words, measured.get("speech_end_s"), checks)
    found = {*(r for r in stored.clip_reasons if r not in TIMING_REASONS), *timing}
    return replace(
        result,
        mos_rejected=rejected,
        speaker_similarity=stored.speaker_similarity,
        checks={**measured, **timing_measured} if stored.clip_checks is not None else None,
        reasons=tuple(r for r in CLIP_REASONS if r in found) + tuple(sorted(found - set(CLIP_REASONS))),
    )
