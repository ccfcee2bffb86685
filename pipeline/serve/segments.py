"""The text of a request cut into segments, and the silence at their joins.

A stream's first segment is short (``FIRST_SEGMENT_MAX_WORDS``) for a low time-to-first-byte; the
rest are sentences. Kokoro pads every utterance with ~0.3 s of silence before the speech and
~0.45 s after it, so two segments played back to back would pause ~0.8 s where the whole sentence
pauses not at all (a cut mid-phrase) or briefly (a comma). :func:`trim_silence` keeps, around the
speech of each segment, only the pause the text calls for there (:func:`pause_after`) and
``LEADING_SILENCE_MS`` before the first one.

Example::

    split_segments("How brave they'll all think me at home!", 6, ".,?!;:")
    # ["How brave they'll all think me", "at home!"]
"""

from __future__ import annotations

import re

import numpy as np

from pipeline.tts.backend import SAMPLE_RATE

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
TEXT_BLOCK_CHARS = 300  # ~20 s of speech: a whole-file request is synthesized a block at a time

# Pause (seconds) kept after a segment ending in these characters, so the join pauses about as
# long as Kokoro does there inside a whole sentence (measured with the -40 dB rule below). The
# comma and colon/semicolon values are fitted on 60 sampled Alice sentences (`benchmarks/
# serve_joins.py --book`): the constant putting the most joins within 0.1 s of the whole
# sentence. Kokoro's own comma pause is bimodal (none in a third of the sentences, 0.1-0.47 s in
# the rest), so no constant matches every comma. A cut after a plain word: none.
PAUSES_S = {",": 0.22, ";": 0.42, ":": 0.36, "-": 0.2, ".": 0.4, "!": 0.4, "?": 0.4}
WORD_JOIN_S = 0.03
JOIN_LEAD_S = 0.02  # silence kept before the speech of a segment that follows another
SILENCE_DB = -40.0  # a 10 ms frame this far below the segment's loudest frame is silence
FRAME = SAMPLE_RATE // 100


def split_segments(text: str, first_max_words: int, boundaries: str) -> list[str]:
    """Cut ``text`` into segments synthesized one after another: the first one short (at most
    ``first_max_words`` words, ending at the last boundary character inside them when there is
    one) for a low time-to-first-byte, the rest at sentence ends."""
    words = text.split()
    if not words:
        return []
    cut = min(first_max_words, len(words))
    if len(words) > first_max_words:
        for index in range(first_max_words, 0, -1):
            if words[index - 1][-1] in boundaries:
                cut = index
                break
    segments = [" ".join(words[:cut])]
    rest = " ".join(words[cut:])
    segments += [part for part in _SENTENCE_END.split(rest) if part.strip()]
    return segments


def text_blocks(text: str, max_chars: int = TEXT_BLOCK_CHARS) -> list[str]:
    """``text`` cut at sentence ends into blocks of about ``max_chars`` (a longer sentence stays
    whole), so a long input is phonemized and synthesized a block at a time."""
    blocks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if blocks and len(blocks[-1]) + len(sentence) < max_chars:
            blocks[-1] += " " + sentence
        elif sentence.strip():
            blocks.append(sentence)
    return blocks


def pause_after(text: str) -> float:
    """The pause a whole sentence would make after ``text`` (its last character decides)."""
    stripped = text.rstrip().rstrip("\"')]}»”’")
    return PAUSES_S.get(stripped[-1:], WORD_JOIN_S) if stripped else WORD_JOIN_S


def quiet_frames(audio: np.ndarray) -> np.ndarray:
    """Per 10 ms frame: True where it is ``SILENCE_DB`` or more below the loudest frame."""
    frames = len(audio) // FRAME
    rms = np.sqrt((audio[: frames * FRAME].astype(np.float64).reshape(frames, FRAME) ** 2).mean(axis=1))
    if frames == 0 or rms.max() <= 1e-6:
        return np.ones(frames, dtype=bool)
    return rms <= rms.max() * 10 ** (SILENCE_DB / 20)


def silence_between(audio: np.ndarray, start_s: float, end_s: float) -> float:
    """Seconds of quiet frames between two times (the pause around a word join)."""
    quiet = quiet_frames(audio)
    return float(quiet[int(start_s * 100) : int(np.ceil(end_s * 100))].sum()) / 100


def speech_bounds(audio: np.ndarray) -> tuple[int, int] | None:
    """``[start, end)`` samples from the first to the last frame louder than ``SILENCE_DB`` below
    the loudest frame; None for silence."""
    loud = np.flatnonzero(~quiet_frames(audio))
    if loud.size == 0:
        return None
    return int(loud[0]) * FRAME, min(len(audio), (int(loud[-1]) + 1) * FRAME)


def trim_silence(audio: np.ndarray, lead_s: float, tail_s: float | None) -> tuple[np.ndarray, int]:
    """``audio`` with at most ``lead_s`` of silence before its speech and ``tail_s`` after it
    (None: the tail as it is; silence is never added); also the number of samples cut from the front."""
    bounds = speech_bounds(audio)
    if bounds is None:
        return audio, 0
    start, end = bounds
    cut = max(0, start - int(lead_s * SAMPLE_RATE))
    stop = len(audio) if tail_s is None else min(len(audio), end + int(tail_s * SAMPLE_RATE))
    return audio[cut:stop], cut
