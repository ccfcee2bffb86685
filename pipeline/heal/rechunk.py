"""A label back into a ``Chunk`` the synthesize stage reads, phonemized exactly as the chunker does
(speak text, the G2P audit's fixes, per-word phoneme spans), optionally with pronunciation
overrides applied through misaki's ``[word](/phonemes/)`` markup. Heal uses it for the halves of
a split chunk and for the lexicon rung; the clip's word times and word phonemes then describe
the audio that was really made, so the attempt is validated like any clip."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import replace

from pipeline.chunking import DEFAULT_PHONEMES_PER_SECOND, phoneme_spans, speakable, word_phonemes
from pipeline.records import Chunk
from pipeline.tts.g2p import G2P, KOKORO_MAX_PHONEMES, apply_overrides
from pipeline.tts.g2p_audit import G2PAuditor
from verdicts.phonemes import VOWELS

PRIMARY_STRESS = "ˈ"


class RechunkError(ValueError):
    """The label cannot be made into a chunk (too many phonemes, nothing to say)."""


def chunk_for_label(
    template: Chunk,
    text: str,
    g2p: G2P,
    auditor: G2PAuditor | None = None,
    *,
    overrides: Mapping[str, str] | None = None,
    phonemes_per_second: float = DEFAULT_PHONEMES_PER_SECOND,
) -> Chunk:
    """``template`` (book, index, chapter, kind) with label ``text``, phonemized afresh."""
    tokens = text.split()
    heading = template.kind == "heading"
    speak = speakable(text, heading=heading)
    result = g2p.phonemize(speak)
    flags = []
    if auditor is not None:
        speak, result, flags = auditor.audit_and_fix(speak, result)
    if overrides:
        marked = apply_overrides(speak, overrides)
        if marked != speak:
            result = g2p.phonemize_marked(speak, marked)
    if not result.phonemes.strip():
        raise RechunkError(f"{text!r}: nothing to say")
    if len(result.phonemes) > KOKORO_MAX_PHONEMES:
        raise RechunkError(f"{text!r}: {len(result.phonemes)} phonemes, over Kokoro's {KOKORO_MAX_PHONEMES}")
    return Chunk(
        book_id=template.book_id,
        index=template.index,
        chapter_index=template.chapter_index,
        chapter_title=template.chapter_title,
        kind=template.kind,
        text=" ".join(tokens),
        speak_text=speak,
        phonemes=result.phonemes,
        n_words=len(tokens),
        est_seconds=round(len(result.phonemes) / phonemes_per_second, 2),
        g2p_flags=tuple(flags),
        word_spans=tuple(phoneme_spans(tokens, result, heading=heading)),
        word_phonemes=word_phonemes(tokens, result, heading=heading),
    )


def stressed(phonemes: str) -> str | None:
    """``phonemes`` (one word's) with primary stress on its first vowel when it has none (a
    secondary stress there is raised); None when it already has one or no vowel."""
    if PRIMARY_STRESS in phonemes:
        return None
    vowel = next((i for i, ch in enumerate(phonemes) if ch in VOWELS), None)
    if vowel is None:
        return None
    head = phonemes[:vowel]
    if head.endswith("ˌ"):
        head = head[:-1]
    return head + PRIMARY_STRESS + phonemes[vowel:]


def _shifted(span: tuple[int, int] | None, at: int, shift: int) -> tuple[int, int] | None:
    """A word span after the phonemes from ``at`` on moved by ``shift`` characters."""
    if span is None or span[1] <= at:
        return span
    return (span[0], span[1] + shift) if span[0] <= at else (span[0] + shift, span[1] + shift)


_AROUND = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


def word_reading(span_text: str) -> tuple[str, str, str]:
    """A word's span of the chunk's phonemes (or a label token) as (punctuation before, the word,
    punctuation after): ``"“ˈʌh!”"`` -> ``("“", "ˈʌh", "!”")`` (stress and length marks are
    phoneme letters here)."""
    match = _AROUND.match(span_text)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2), match.group(3)


def with_word_readings(chunk: Chunk, readings: Mapping[int, str]) -> Chunk | None:
    """``chunk`` with the label words at the keys of ``readings`` fed those phonemes instead
    (the punctuation Kokoro reads around each word is kept). The phonemes are edited in place,
    so every other word is fed exactly as before; None when no word changes."""
    phonemes = chunk.phonemes
    spans = list(chunk.word_spans)
    words = list(chunk.word_phonemes)
    changed = False
    # last word first, so the spans of the words still to edit stay where they are
    for index in sorted((i for i in readings if 0 <= i < len(spans) and spans[i]), reverse=True):
        start, end = spans[index]  # type: ignore[misc]
        before, old, after = word_reading(phonemes[start:end])
        new = readings[index]
        if not new or new == old:
            continue
        phonemes = phonemes[: start + len(before)] + new + phonemes[end - len(after) :]
        spans = [_shifted(span, start, len(new) - len(old)) for span in spans]
        if index < len(words):
            words[index] = words[index].replace(old, new, 1) if old else new
        changed = True
    if not changed:
        return None
    return replace(chunk, phonemes=phonemes, word_spans=tuple(spans), word_phonemes=tuple(words))


def learned_readings(fed: Sequence[str], attempts: Iterable[tuple[Sequence[str], Set[int]]]) -> dict[int, str]:
    """The word readings to keep from earlier attempts: for each attempt (in order), given as its
    per-word fed phonemes and the indices of the words it did not say as written, every word fed
    differently from ``fed`` and then heard as written -> that word's phonemes (no punctuation).
    An attempt with another number of words (a split half) teaches nothing."""
    learned: dict[int, str] = {}
    for words, unheard in attempts:
        if len(words) != len(fed):
            continue
        for index, (new, old) in enumerate(zip(words, fed, strict=True)):
            if new != old and index not in unheard:
                learned[index] = word_reading(new)[1]
    return learned


def with_stressed_words(chunk: Chunk, indices: Iterable[int]) -> Chunk | None:
    """``chunk`` with the label words at ``indices`` read with primary stress where Kokoro was fed
    none: an unstressed word (a function word in its weak form: "for", "he", "is", "of") that
    both recognizers heard as another word is said in full; None when no word changes."""
    readings = {}
    for index in set(indices):
        if 0 <= index < len(chunk.word_spans) and (span := chunk.word_spans[index]):
            new = stressed(word_reading(chunk.phonemes[span[0] : span[1]])[1])
            if new is not None:
                readings[index] = new
    return with_word_readings(chunk, readings)
