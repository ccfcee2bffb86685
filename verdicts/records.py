"""Records that go in and out of the verdict stage: an engine's hypothesis, one verdict per label
word, insertion rows, and the verdict names themselves.

Verdicts travel as plain strings (the ``Verdict`` values) so rows go straight into JSON and SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verdicts.align import Alignment
    from verdicts.summary import FileSummary


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


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a disagreement is not a TTS error: the verdict and the rule id that fired."""

    verdict: str
    rule: str


@dataclass(frozen=True, slots=True)
class HypWord:
    """One recognized word with optional timing (seconds) and confidence (0..1)."""

    text: str
    start: float | None = None
    end: float | None = None
    confidence: float | None = None


def _hyp_word(word: object) -> HypWord:
    """A HypWord from a HypWord, a (text, start, end, confidence) tuple, or any record with those
    attributes (e.g. ``judges.base.Word``)."""
    if isinstance(word, HypWord):
        return word
    if isinstance(word, tuple):
        return HypWord(*word)
    return HypWord(word.text, word.start, word.end, word.confidence)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What one engine heard. ``words`` (HypWord, ``(text, start, end, confidence)`` tuples, or
    records with those attributes) is used when it is not empty, so verdicts get timings and
    confidences; otherwise ``text`` is split.

    Example: ``Hypothesis("whisper", "Alice was tired", [("Alice", 0.0, 0.4, 0.99), ...])``
    """

    engine: str
    text: str
    words: tuple[HypWord, ...] | None = None

    def __init__(
        self,
        engine: str,
        text: str,
        words: Sequence[HypWord | tuple[str, float | None, float | None, float | None] | object] | None = None,
    ) -> None:
        object.__setattr__(self, "engine", engine)
        object.__setattr__(self, "text", text)
        converted = None if words is None else tuple(_hyp_word(w) for w in words)
        object.__setattr__(self, "words", converted)

    def __reduce__(self):  # slots + custom __init__: pickle through the constructor
        return (Hypothesis, (self.engine, self.text, self.words))

    @property
    def confidences(self) -> tuple[float, ...]:
        if self.words is None:
            return ()
        return tuple(w.confidence for w in self.words if w.confidence is not None)


@dataclass(frozen=True, slots=True)
class WordVerdict:
    """The verdict for one label word (a row of ``audio_words``)."""

    index: int  # position of the word in the label, split on whitespace
    label_word: str  # as the label writes it
    norm_word: str  # its normalized tokens, space-joined ("1865" -> "eighteen sixty five")
    primary_word: str | None  # normalized engine tokens aligned to it; "" = not heard
    secondary_word: str | None  # None = the secondary engine did not run
    verdict: str
    rule: str
    start_s: float | None = None
    end_s: float | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Insertion:
    """Engine words with no label word under them, at one place in the label."""

    index: int  # -1, -2, ... in order (the audio_words convention for insertions)
    position: int  # index of the label word they come before (len(label words) = at the end)
    primary_word: str | None
    secondary_word: str | None
    verdict: str  # "filler_word" or "insertion"
    rule: str
    start_s: float | None = None
    end_s: float | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class FileVerdicts:
    """Everything ``judge_words`` decided about one clip."""

    words: tuple[WordVerdict, ...]
    insertions: tuple[Insertion, ...]
    summary: FileSummary
    primary_engine: str
    secondary_engine: str | None
    primary_alignment: Alignment
    secondary_alignment: Alignment | None = field(default=None)

    def by_label(self) -> dict[str, WordVerdict]:
        """Rows keyed by label word (the first occurrence wins); handy in tests and notebooks."""
        out: dict[str, WordVerdict] = {}
        for row in self.words:
            out.setdefault(row.label_word, row)
        return out
