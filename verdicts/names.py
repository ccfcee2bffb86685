"""The verdict names (SPEC "validate", verdict table), which of them count against a clip, and
the verdict of an unexplained insertion row. Rule ids are in ``verdicts.rule_ids``.
"""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    """One verdict per reference word (SPEC "validate", verdict table)."""

    PASS = "pass"  # engines agree with the reference
    STT_ERROR = "stt_error"  # primary wrong, secondary right: the recognizer misheard
    SECONDARY_ERROR = "secondary_error"  # primary right, secondary wrong
    TTS_FAILURE = "tts_failure"  # both engines wrong the same way, no rule explains it
    AMBIGUOUS = "ambiguous"  # both wrong, differently: needs a human
    UNVERIFIED = "unverified"  # only one engine ran and it disagrees, unexplained
    HOMOPHONE = "homophone"  # a sound-alike (tale/tail), by phoneme comparison
    COMPOUND = "compound"  # adjacent words merged or split (book shelves <-> bookshelves)
    SPELLING_VARIANT = "spelling_variant"  # British/US or accepted variant spellings
    FILLER_WORD = "filler_word"  # uh/um/hmm in the text but not heard, or heard but not in the text
    ABBREVIATION = "abbreviation"  # mph/miles per hour, numerals/words
    GT_TYPO = "gt_typo"  # the label has a typo; both engines heard the real word next to it
    GT_ERROR = "gt_error"  # the label is broken: missing space, stray markup


VERDICT_NAMES: tuple[str, ...] = tuple(v.value for v in Verdict)
# Verdicts that count against the clip in the adjusted WER.
COUNTED_VERDICTS: frozenset[str] = frozenset({"tts_failure", "ambiguous", "unverified"})
# Verdict of an insertion row that no rule explains (insertion rows are not label words).
INSERTION = "insertion"
