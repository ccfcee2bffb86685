"""Word timestamps for free: Kokoro predicts a duration (25 ms frames) for every phoneme token
and renders exactly that many frames, so where each word sounds is known from the synthesis
itself (the same arithmetic as ``pipeline.timing`` for generated chunks).

A piece is a group of misaki words synthesized in one call; :func:`piece_word_times` places its
words (punctuation-only tokens are skipped) in seconds from the start of the piece's audio::

    piece_word_times(words, durations)
    # [{"word": "Hello", "start_s": 0.3, "end_s": 0.6}, ...]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from pipeline.timing import predicted_word_times
from pipeline.tts.engine import join_phonemes
from pipeline.tts.g2p import PhonemizedWord

_WORD = re.compile(r"\w")


def word_spans(words: Sequence[PhonemizedWord]) -> list[tuple[int, int] | None]:
    """Per word, its ``[start, end)`` characters in :func:`join_phonemes` (None: not a spoken word)."""
    raw = "".join(w.phonemes + (" " if w.whitespace else "") for w in words)
    lead = len(raw) - len(raw.lstrip())
    spans: list[tuple[int, int] | None] = []
    offset = 0
    for word in words:
        begin, end = offset - lead, offset - lead + len(word.phonemes)
        offset += len(word.phonemes) + (1 if word.whitespace else 0)
        spoken = word.phonemes.strip() and _WORD.search(word.text)
        spans.append((max(0, begin), end) if spoken else None)
    return spans


def piece_word_times(words: Sequence[PhonemizedWord], durations: np.ndarray | None) -> list[dict]:
    """``{"word", "start_s", "end_s"}`` per spoken word of a piece; [] without durations."""
    if durations is None:
        return []
    times = predicted_word_times([w.text for w in words], join_phonemes(words), word_spans(words), durations)
    return [{"word": t["word"], "start_s": t["start_s"], "end_s": t["end_s"]} for t in times or []]


def shift_words(words: Sequence[dict], offset_s: float, limit_s: float | None = None) -> list[dict]:
    """``words`` moved by ``offset_s`` (and kept inside ``[0, limit_s]``)."""
    out = []
    for word in words:
        start, end = word["start_s"] + offset_s, word["end_s"] + offset_s
        if limit_s is not None:
            start, end = min(start, limit_s), min(end, limit_s)
        out.append({**word, "start_s": round(max(0.0, start), 3), "end_s": round(max(0.0, end), 3)})
    return out
