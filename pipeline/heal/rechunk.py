"""A label back into a ``Chunk`` the synthesize stage reads, phonemized exactly as the chunker does
(speak text, the G2P audit's fixes, per-word phoneme spans), optionally with pronunciation
overrides applied through misaki's ``[word](/phonemes/)`` markup. Heal uses it for the halves of
a split chunk and for the lexicon rung; the clip's word times and word phonemes then describe
the audio that was really made, so the attempt is validated like any clip."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.chunking import DEFAULT_PHONEMES_PER_SECOND, phoneme_spans, speakable, word_phonemes
from pipeline.records import Chunk
from pipeline.tts.g2p import G2P, KOKORO_MAX_PHONEMES, Phonemized
from pipeline.tts.g2p_audit import G2PAuditor


class RechunkError(ValueError):
    """The label cannot be made into a chunk (too many phonemes, nothing to say)."""


def apply_overrides(speak: str, overrides: Mapping[str, str]) -> str:
    """``speak`` with every whole-word occurrence of a lexicon word (any case) marked up as
    ``[word](/phonemes/)``, misaki's way of fixing a word's phonemes."""
    for word in sorted(overrides, key=len, reverse=True):
        phonemes = overrides[word]
        pattern = re.compile(rf"(?<![\w'\[]){re.escape(word)}(?![\w'\]])", re.IGNORECASE)
        speak = pattern.sub(lambda m, p=phonemes: f"[{m.group(0)}](/{p}/)", speak)
    return speak


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
            fixed = g2p.phonemize(marked)
            # the plain speak text, so phoneme_spans finds each misaki token where the label has it
            result = Phonemized(text=speak, phonemes=fixed.phonemes, words=fixed.words, unspoken=fixed.unspoken)
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
        word_phonemes=word_phonemes(tokens, result),
    )
