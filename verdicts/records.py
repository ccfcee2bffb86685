"""Records that go in and out of the verdict stage: a recognized word, an engine's hypothesis,
one verdict per label word, insertion rows and everything decided about one clip.

Verdicts travel as plain strings (``verdicts.names.Verdict`` values) so rows go straight into
JSON and SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verdicts.align import Alignment
from verdicts.calibration import Calibration
from verdicts.summary import FileSummary


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a disagreement is not a TTS error: the verdict and the rule id that fired."""

    verdict: str
    rule: str


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word with optional timing (seconds) and confidence (0..1): what an ASR
    judge reports (``judges.base.Transcript.words``) and what verdicts read (``Hypothesis.words``)."""

    text: str
    start: float | None = None
    end: float | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class LanguageListen:
    """What a multilingual recognizer wrote when it listened again, in ``language`` (a code of
    ``verdicts.languages.FOREIGN_LANGUAGES``), to the stretch of audio that holds label words
    ``first``..``last`` (whitespace-split indices, inclusive): a run of that language.

    Example: ``LanguageListen("fr", 4, 7, "Où est ma chate ?")``
    """

    language: str
    first: int
    last: int
    text: str

    def to_json(self) -> dict:
        return {"language": self.language, "first": self.first, "last": self.last, "text": self.text}

    @classmethod
    def from_json(cls, data: dict) -> LanguageListen:
        return cls(str(data["language"]), int(data["first"]), int(data["last"]), str(data["text"]))


@dataclass(frozen=True, slots=True)
class ForcedRepeat:
    """A recognizer forced to choose between the label and the label with words
    ``first``..``last`` (whitespace-split indices, inclusive) said twice: ``llr`` is the log
    probability of the doubled reading minus that of the label (nats). Above 0 the recognizer
    prefers hearing the words twice, though its free transcript wrote them once.

    Example: ``ForcedRepeat(8, 8, 2.3)``: "where it it had been" for "where it had been"
    """

    first: int
    last: int
    llr: float

    def found(self, min_llr: float = 0.0) -> bool:
        """The engine prefers the doubled reading by more than ``min_llr``."""
        return self.llr > min_llr

    @property
    def position(self) -> int:
        """The label word the extra copy comes before (``Insertion.position``)."""
        return self.last + 1

    def to_json(self) -> dict:
        return {"first": self.first, "last": self.last, "llr": self.llr}

    @classmethod
    def from_json(cls, data: dict) -> ForcedRepeat:
        return cls(int(data["first"]), int(data["last"]), float(data["llr"]))


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What one engine heard. ``words`` is used when it is not empty, so verdicts get timings and
    confidences; otherwise ``text`` is split.

    Example: ``Hypothesis("whisper", "Alice was tired", (Word("Alice", 0.0, 0.4, 0.99), ...))``
    """

    engine: str
    text: str
    words: tuple[Word, ...] | None = None
    calibration: Calibration | None = None  # raw word confidence -> probability the word is right
    # Per whitespace-separated label word: the engine's probability of it when forced to read the
    # label (None: not scored)
    label_probs: tuple[float | None, ...] | None = None
    # The engine's second listen to each run of another language, in that language
    listens: tuple[LanguageListen, ...] = ()
    # The repetitions the engine was asked about when forced to choose (None: not checked)
    repeats: tuple[ForcedRepeat, ...] | None = None

    def __post_init__(self) -> None:
        if self.words is not None and not isinstance(self.words, tuple):
            object.__setattr__(self, "words", tuple(self.words))

    @property
    def confidences(self) -> tuple[float, ...]:
        if self.words is None:
            return ()
        return tuple(w.confidence for w in self.words if w.confidence is not None)

    @property
    def calibrated_confidences(self) -> tuple[float, ...] | None:
        """The word confidences through the engine's calibration; None when it has none."""
        if self.calibration is None:
            return None
        return tuple(self.calibration(c) for c in self.confidences)


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
    fed_phonemes: str | None = None  # what Kokoro was fed for this word (None: not known)


@dataclass(frozen=True, slots=True)
class Insertion:
    """Engine words with no label word under them, at one place in the label."""

    index: int  # -1, -2, ... in order (the audio_words convention for insertions)
    position: int  # index of the label word they come before (len(label words) = at the end)
    primary_word: str | None
    secondary_word: str | None
    verdict: (
        str  # "filler_word", "insertion", or the error of the one engine that heard them (stt_error, secondary_error)
    )
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
