"""Clip checks that matter for TTS training data, beyond the word verdicts: DSP sanity (clipping,
long pauses, leading/trailing silence), the timing cross-check against Kokoro's predicted word
times, the G2P audit's unfixed findings and speaker similarity. Each failed check is a reason id
(``pipeline.reasons``); ``measure`` also returns the measurements stored in ``clip_checks``.

Speech vs silence: 10 ms frames whose RMS is within ``SPEECH_RANGE_DB`` of the clip's loudest
frame and above ``SPEECH_FLOOR_DB`` dBFS are speech; pauses shorter than ``MIN_GAP_S`` (stop
closures) do not split it.

Example::

    checks = ClipCheckThresholds()
    reasons, measured = dsp_reasons(audio, 24_000, checks)   # (["long_silence"], {...})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline import reasons as R
from pipeline.timing import HeardWord, timing_check

FRAME_S = 0.01
SPEECH_RANGE_DB = 40.0
SPEECH_FLOOR_DB = -55.0
CLIP_LEVEL = 0.999


@dataclass(frozen=True, slots=True)
class ClipCheckThresholds:
    speaker_min_similarity: float = 0.75
    max_internal_silence_s: float = 2.0
    max_leading_silence_s: float = 1.0
    max_trailing_silence_s: float = 1.5
    max_clipping_pct: float = 0.1
    timing_tolerance_s: float = 1.0
    truncation_tolerance_s: float = 0.8


@dataclass(frozen=True, slots=True)
class SpeechExtent:
    duration_s: float
    start_s: float | None  # first speech frame (None: no speech at all)
    end_s: float | None  # end of the last speech frame
    longest_pause_s: float  # longest non-speech run between start and end


def _mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    if np.issubdtype(x.dtype, np.integer):
        x = x / float(2 ** (8 * x.dtype.itemsize - 1))
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 2 else x.reshape(-1)


def speech_extent(audio: np.ndarray, sample_rate: int) -> SpeechExtent:
    x = _mono(audio)
    duration = len(x) / sample_rate if sample_rate else 0.0
    frame = max(1, int(FRAME_S * sample_rate))
    n = len(x) // frame
    if n == 0:
        return SpeechExtent(duration, None, None, 0.0)
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-6))
    speech = db > max(db.max() - SPEECH_RANGE_DB, SPEECH_FLOOR_DB)
    voiced = np.flatnonzero(speech)
    if voiced.size == 0:
        return SpeechExtent(duration, None, None, 0.0)
    first, last = int(voiced[0]), int(voiced[-1])
    gaps = np.diff(voiced) - 1  # silent frames between consecutive speech frames
    longest = float(gaps.max()) * FRAME_S if gaps.size else 0.0
    return SpeechExtent(duration, first * FRAME_S, (last + 1) * FRAME_S, round(longest, 3))


def dsp_reasons(
    audio: np.ndarray, sample_rate: int, thresholds: ClipCheckThresholds
) -> tuple[list[str], dict[str, float | None]]:
    """(reason ids, measurements) for clipping, long pauses and leading/trailing silence."""
    x = _mono(audio)
    extent = speech_extent(x, sample_rate)
    clipping_pct = float(np.mean(np.abs(x) >= CLIP_LEVEL) * 100) if x.size else 0.0
    leading = extent.start_s if extent.start_s is not None else extent.duration_s
    trailing = extent.duration_s - extent.end_s if extent.end_s is not None else extent.duration_s
    measured = {
        "clipping_pct": round(clipping_pct, 4),
        "leading_silence_s": round(leading, 3),
        "trailing_silence_s": round(trailing, 3),
        "longest_pause_s": extent.longest_pause_s,
        "speech_end_s": None if extent.end_s is None else round(extent.end_s, 3),
    }
    reasons = []
    if clipping_pct > thresholds.max_clipping_pct:
        reasons.append(R.CLIPPING)
    if extent.longest_pause_s > thresholds.max_internal_silence_s:
        reasons.append(R.LONG_SILENCE)
    if leading > thresholds.max_leading_silence_s:
        reasons.append(R.LEADING_SILENCE)
    if trailing > thresholds.max_trailing_silence_s:
        reasons.append(R.TRAILING_SILENCE)
    return reasons, measured


def heard_words(verdict_words: Sequence) -> list[HeardWord]:
    """Label words the recognizers placed in time (``WordVerdict`` rows with a start and end)."""
    return [
        HeardWord(w.index, w.start_s, w.end_s)
        for w in verdict_words
        if w.start_s is not None and w.end_s is not None and w.primary_word
    ]


def timing_reasons(
    word_times: Sequence[dict] | None,
    verdict_words: Sequence,
    speech_end_s: float | None,
    thresholds: ClipCheckThresholds,
) -> tuple[list[str], dict]:
    """(reason ids, measurements) of the timing cross-check (nothing without predicted times)."""
    if not word_times:
        return [], {}
    result = timing_check(
        word_times,
        heard_words(verdict_words),
        speech_end_s,
        tolerance_s=thresholds.timing_tolerance_s,
        truncation_tolerance_s=thresholds.truncation_tolerance_s,
    )
    reasons = []
    if result.mismatched:
        reasons.append(R.TIMING_MISMATCH)
    if result.truncated:
        reasons.append(R.TRUNCATED)
    measured = {
        "timing_max_offset_s": result.max_offset_s,
        "timing_mismatched_words": list(result.mismatched),
        "predicted_end_s": result.predicted_end_s,
    }
    return reasons, measured


def speaker_reasons(similarity: float | None, thresholds: ClipCheckThresholds) -> list[str]:
    if similarity is None:
        return []
    return [R.SPEAKER_DRIFT] if similarity < thresholds.speaker_min_similarity else []
