"""When each label word should sound, from Kokoro's own per-token durations, and the check at
validate time that the audio agrees.

Kokoro predicts a duration (in 25 ms frames) for every phoneme token it reads and renders
exactly that many frames (``sum(durations) * 600 == len(audio)``), so the predicted time of a
label word is where the model put it. ``predicted_word_times`` turns a chunk's per-word phoneme
spans (``Chunk.word_spans``) and the durations into ``{"index", "word", "phonemes", "start_s",
"end_s"}`` per label word; ``timing_check`` compares them with where the recognizers heard the
words and with where the speech in the audio ends.

Example::

    times = predicted_word_times(chunk.text.split(), chunk.phonemes, chunk.word_spans, durations)
    times[0] == {"index": 0, "word": "Alice", "phonemes": "ˈælɪs", "start_s": 0.125, "end_s": 0.45}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.tts.backend import SAMPLE_RATE, SAMPLES_PER_FRAME, kokoro_config

FRAME_S = SAMPLES_PER_FRAME / SAMPLE_RATE


def predicted_word_times(
    tokens: Sequence[str],
    phonemes: str,
    spans: Sequence[tuple[int, int] | None],
    durations: np.ndarray,
) -> list[dict] | None:
    """Per label token with phonemes, its predicted start and end (seconds from the clip start).

    ``durations`` has one entry per model token: the leading boundary token, one per phoneme
    character in Kokoro's vocabulary, the trailing boundary token. None when they do not match
    ``phonemes`` (a backend that changed its tokenization) or ``spans`` do not cover ``tokens``."""
    vocab = kokoro_config()["vocab"]
    in_vocab = [c in vocab for c in phonemes]
    if len(durations) != sum(in_vocab) + 2 or len(spans) != len(tokens):
        return None
    frames = np.asarray(durations, dtype=np.float64)
    # start frame of each phoneme character (characters outside the vocab take no time)
    starts = np.zeros(len(phonemes) + 1)
    clock = frames[0]
    token = 1
    for i, known in enumerate(in_vocab):
        starts[i] = clock
        if known:
            clock += frames[token]
            token += 1
    starts[len(phonemes)] = clock
    out = []
    for index, (word, span) in enumerate(zip(tokens, spans, strict=True)):
        if span is None:
            continue
        begin, end = span
        out.append(
            {
                "index": index,
                "word": word,
                "phonemes": phonemes[begin:end],
                "start_s": round(float(starts[begin]) * FRAME_S, 3),
                "end_s": round(float(starts[end]) * FRAME_S, 3),
            }
        )
    return out


@dataclass(frozen=True, slots=True)
class HeardWord:
    """A label word where a recognizer placed it (from the verdict rows)."""

    index: int
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class TimingResult:
    mismatched: tuple[int, ...]  # label word indices heard far from their predicted time
    max_offset_s: float | None  # the largest |heard - predicted| midpoint offset
    predicted_end_s: float | None  # the end of the last predicted word
    speech_end_s: float | None  # where the speech in the audio ends
    truncated: bool


def timing_check(
    predicted: Sequence[dict],
    heard: Sequence[HeardWord],
    speech_end_s: float | None,
    *,
    tolerance_s: float,
    truncation_tolerance_s: float,
) -> TimingResult:
    """Words heard more than ``tolerance_s`` outside their predicted interval, and whether the speech
    stops more than ``truncation_tolerance_s`` before the last word's predicted end."""
    by_index = {p["index"]: p for p in predicted}
    mismatched = []
    worst = None
    for word in heard:
        p = by_index.get(word.index)
        if p is None:
            continue
        mid = (word.start_s + word.end_s) / 2
        offset = max(p["start_s"] - mid, mid - p["end_s"], 0.0)
        worst = offset if worst is None else max(worst, offset)
        if offset > tolerance_s:
            mismatched.append(word.index)
    predicted_end = max((p["end_s"] for p in predicted), default=None)
    truncated = (
        predicted_end is not None and speech_end_s is not None and speech_end_s < predicted_end - truncation_tolerance_s
    )
    return TimingResult(
        tuple(mismatched),
        None if worst is None else round(worst, 3),
        predicted_end,
        speech_end_s,
        truncated,
    )
