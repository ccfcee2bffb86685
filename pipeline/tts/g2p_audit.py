"""The G2P audit: what misaki made of a chunk, checked before Kokoro ever reads it.

Rules (ids are constants; every flag of a clip is stored with it, ``g2p_flags``):

* ``g2p.letter_spelling``: a word whose phonemes spell it letter by letter although its lower-case
  form is a dictionary word ("DRINK ME" -> "ɛm-i"). ALL-CAPS words are fixed by default: the word
  is read in lower case (``fixed`` True on the flag); ``keep_caps`` opts out. A word in lower or
  title case read letter by letter (a lexicon entry or phoneme override gone wrong) cannot be fixed
  that way and stays a finding. Acronyms (no lower-case dictionary entry: "BBC") are meant to be
  spelled and are not flagged.
* ``g2p.no_phonemes``: a word with letters or digits that got no phonemes at all (silent).
* ``g2p.unknown_marker``: misaki's unknown marker (``❓``) inside a word's phonemes.
* ``g2p.out_of_vocab``: phoneme symbols Kokoro's vocabulary lacks (the model skips them).
* ``g2p.heteronym_uncertain``: misaki's reading of a heteronym (close, lead, live, ...) differs
  from espeak-ng's reading of the same sentence. Either may be wrong; it is for review.
* ``g2p.foreign_reading``: a word of a run in another language ("“Où est ma chatte?”" in an
  English book, ``verdicts.languages``) that misaki would read as English. Fixed by default: the
  word is fed espeak-ng's reading in that language (misaki's notation, Kokoro's symbols only,
  through misaki's ``[word](/phonemes/)`` override; "chatte" ``ʃˈat``, not ``ʧˈæt``);
  ``foreign_readings=False`` opts out and the flag stays a finding.

Example::

    auditor = G2PAuditor(g2p); auditor.setup()
    text, phonemized, flags = auditor.audit_and_fix("It said DRINK ME.")
    # text == "It said DRINK me.", flags[0].rule == "g2p.letter_spelling", flags[0].fixed
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from pipeline.tts.backend import kokoro_config
from pipeline.tts.espeak import EspeakReader, bare_word, english_voice, second_reading, word_reader
from pipeline.tts.g2p import G2P, Phonemized, apply_overrides

log = logging.getLogger(__name__)

G2P_LETTER_SPELLING = "g2p.letter_spelling"
G2P_NO_PHONEMES = "g2p.no_phonemes"
G2P_UNKNOWN_MARKER = "g2p.unknown_marker"
G2P_OUT_OF_VOCAB = "g2p.out_of_vocab"
G2P_HETERONYM_UNCERTAIN = "g2p.heteronym_uncertain"
G2P_FOREIGN_READING = "g2p.foreign_reading"
G2P_RULES = (
    G2P_LETTER_SPELLING, G2P_NO_PHONEMES, G2P_UNKNOWN_MARKER, G2P_OUT_OF_VOCAB, G2P_HETERONYM_UNCERTAIN,
    G2P_FOREIGN_READING,
)  # fmt: skip

UNKNOWN_MARKER = "❓"  # misaki's ``unk``
_STRESS = str.maketrans("", "", "ˈˌː")
# espeak-ng's IPA -> misaki's one-letter diphthongs etc., so one pattern reads both notations;
# British English too (misaki's ``Q`` and espeak-ng en-gb's ``əʊ`` are the GOAT vowel, US ``O``).
_COMMON = (
    ("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("əʊ", "O"), ("Q", "O"), ("aʊ", "W"), ("ɔɪ", "Y"),
    ("ɚ", "əɹ"), ("ᵻ", "ɪ"), ("ɐ", "ə"),
)  # fmt: skip

# Heteronym -> {reading: pattern on the stress-free common notation}; readings must exclude
# each other. A reading neither engine's output matches is "unknown" and never flagged.
HETERONYMS: dict[str, dict[str, str]] = {
    "close": {"s (near)": r"klOs", "z (shut)": r"klOz"},
    "lead": {"iː (guide)": r"lid", "ɛ (metal)": r"lɛd"},
    "live": {"ɪ (verb)": r"lɪv", "aɪ (adjective)": r"lIv"},
    "wind": {"ɪ (air)": r"wɪnd", "aɪ (turn)": r"wInd"},
    "wound": {"uː (injury)": r"wund", "aʊ (turned)": r"wWnd"},
    "bow": {"oʊ (ribbon)": r"bO", "aʊ (bend)": r"bW"},
    "row": {"oʊ (line)": r"ɹO", "aʊ (quarrel)": r"ɹW"},
    "minute": {"ɪ (time)": r"mɪn.*", "aɪ (tiny)": r"mIn.*"},
    "refuse": {"verb": r"ɹ[əɪi]fjuz", "noun": r"ɹɛfjus"},
    "read": {"iː (present)": r"ɹid", "ɛ (past)": r"ɹɛd"},
    "tear": {"ɪə (crying)": r"tɪɹ", "ɛə (rip)": r"tɛɹ"},
    "use": {"z (verb)": r"juz", "s (noun)": r"jus"},
    "does": {"ʌ (verb)": r"dʌz", "oʊ (deer)": r"dOz"},
}


@dataclass(frozen=True, slots=True)
class G2PFlag:
    """One audit finding for one word of a chunk."""

    rule: str  # one of G2P_RULES
    word: str  # the word as the G2P read it
    phonemes: str  # what the G2P made of it (before any fix)
    fixed: bool = False  # the chunk's phonemes no longer have the problem
    detail: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def common_notation(phonemes: str) -> str:
    """Stress and length marks removed, espeak-ng's diphthongs in misaki's letters."""
    out = phonemes.translate(_STRESS)
    for a, b in _COMMON:
        out = out.replace(a, b)
    return out


def heteronym_reading(word: str, phonemes: str) -> str | None:
    """Which reading of heteronym ``word`` ``phonemes`` is (None: not a heteronym, or neither)."""
    readings = HETERONYMS.get(word.lower())
    if not readings:
        return None
    plain = common_notation(phonemes)
    found = [name for name, pattern in readings.items() if re.fullmatch(pattern, plain)]
    return found[0] if len(found) == 1 else None


def out_of_vocab(phonemes: str, vocab: Iterable[str] | None = None) -> str:
    """The symbols of ``phonemes`` Kokoro's vocabulary lacks (in order, each once)."""
    known = set(vocab if vocab is not None else kokoro_config()["vocab"])
    return "".join(dict.fromkeys(c for c in phonemes if c not in known and c != UNKNOWN_MARKER))


def counts(flags: Iterable[G2PFlag | dict]) -> Counter:
    """Flags per rule id; a fixed flag counts under ``<rule>.fixed``."""
    out: Counter = Counter()
    for flag in flags:
        rule, fixed = (flag["rule"], flag.get("fixed")) if isinstance(flag, dict) else (flag.rule, flag.fixed)
        out[f"{rule}.fixed" if fixed else rule] += 1
    return out


class G2PAuditor:
    """Audits (and fixes) a chunk's phonemization with the same G2P the chunker uses."""

    def __init__(
        self, g2p: G2P, *, keep_caps: bool = False, second_opinion: bool = True, foreign_readings: bool = True
    ) -> None:
        self.g2p = g2p
        self.keep_caps = keep_caps
        self.second_opinion = second_opinion
        self.foreign_readings = foreign_readings
        self.espeak = EspeakReader(english_voice(g2p.lang_code))
        self._letters: dict[str, str] = {}
        self._dictionary: tuple[dict, ...] = ()
        self._vocab: frozenset[str] = frozenset()

    def setup(self) -> None:
        self.g2p.setup()
        lexicon = self.g2p.lexicon
        self._dictionary = (lexicon.golds, lexicon.silvers)
        self._letters = {c: _default(lexicon.golds.get(c)) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
        self._vocab = frozenset(kokoro_config()["vocab"])
        if self.second_opinion:
            self.espeak.setup()

    def in_dictionary(self, word: str) -> bool:
        return any(word in table for table in self._dictionary)

    def is_letter_spelling(self, word: str, phonemes: str) -> bool:
        """``phonemes`` spell ``word`` letter by letter and ``word.lower()`` is a word."""
        if len(word) < 2 or not (word.isascii() and word.isalpha()):
            return False
        if not self.in_dictionary(word.lower()):
            return False
        spelled = "".join(self._letters.get(c) or "?" for c in word.upper())
        return "".join(phonemes.translate(_STRESS).split()) == spelled.translate(_STRESS)

    def word_flags(self, phonemized: Phonemized) -> list[G2PFlag]:
        """The per-word rules (everything but the heteronym second opinion)."""
        flags = []
        for word in phonemized.words:
            ph = word.phonemes
            if self.is_letter_spelling(word.text, ph):
                flags.append(G2PFlag(G2P_LETTER_SPELLING, word.text, ph, detail=f"read as {word.text.lower()!r}"))
            if not ph and re.search(r"\w", word.text):
                flags.append(G2PFlag(G2P_NO_PHONEMES, word.text, ph))
            if UNKNOWN_MARKER in ph:
                flags.append(G2PFlag(G2P_UNKNOWN_MARKER, word.text, ph))
            if missing := out_of_vocab(ph, self._vocab):
                flags.append(G2PFlag(G2P_OUT_OF_VOCAB, word.text, ph, detail=f"not in Kokoro's vocab: {missing}"))
        return flags

    def heteronym_flags(self, phonemized: Phonemized) -> list[G2PFlag]:
        """Heteronyms whose misaki reading differs from espeak-ng's reading of the same text. The
        k-th occurrence is compared with the k-th espeak word of a known reading, only when both
        find the same number of occurrences (otherwise there is no reliable second opinion)."""
        if not self.second_opinion:
            return []
        mine = [(w, heteronym_reading(w.text, w.phonemes)) for w in phonemized.words if w.text.lower() in HETERONYMS]
        if not mine:
            return []
        theirs = self.espeak.words(phonemized.text)
        flags = []
        for name in {w.text.lower() for w, _ in mine}:
            ours = [(w, r) for w, r in mine if w.text.lower() == name]
            other = [r for r in (heteronym_reading(name, p) for p in theirs) if r is not None]
            if len(other) != len(ours):
                continue
            for (word, reading), espeak_reading in zip(ours, other, strict=True):
                if reading is not None and reading != espeak_reading:
                    detail = f"misaki: {reading}; espeak-ng: {espeak_reading}"
                    flags.append(G2PFlag(G2P_HETERONYM_UNCERTAIN, word.text, word.phonemes, detail=detail))
        return flags

    def audit(self, phonemized: Phonemized) -> list[G2PFlag]:
        return self.word_flags(phonemized) + self.heteronym_flags(phonemized)

    def foreign_words(self, text: str) -> dict[str, tuple[str, str]]:
        """Words of ``text`` in a run of another language -> (espeak-ng's reading of the word in
        that language, in Kokoro's symbols; the espeak-ng voice). A word espeak-ng cannot read
        is left out."""
        from verdicts.languages import FOREIGN_LANGUAGES, foreign_runs

        tokens = text.split()
        out: dict[str, tuple[str, str]] = {}
        for index, language in sorted(foreign_runs(tokens).items()):
            voice = FOREIGN_LANGUAGES[language]
            reader = word_reader(voice)
            word = bare_word(tokens[index])
            reading = second_reading(word, reader, self._vocab) if reader is not None and word else None
            if reading:
                out.setdefault(word, (reading, voice))
        return out

    def audit_and_fix(self, text: str, phonemized: Phonemized | None = None) -> tuple[str, Phonemized, list[G2PFlag]]:
        """``(text the G2P should read, its phonemization, flags)``. Letter-spelled dictionary
        words are read in lower case unless ``keep_caps``; words of a run in another language are
        fed espeak-ng's reading in it unless not ``foreign_readings``; their flags say ``fixed``."""
        phonemized = phonemized or self.g2p.phonemize(text)
        flags = self.word_flags(phonemized)
        spelled = {f.word for f in flags if f.rule == G2P_LETTER_SPELLING and f.word.isupper()}
        if spelled and not self.keep_caps:
            # Read in lower case, an ALL-CAPS dictionary word is read as a word: its flag is fixed.
            text = lower_words(text, spelled)
            phonemized = self.g2p.phonemize(text)
            fixed = [replace(f, fixed=True) for f in flags if f.rule == G2P_LETTER_SPELLING and f.word in spelled]
            flags = fixed + self.word_flags(phonemized)
        foreign = self.foreign_words(text)
        misaki = {w.text: w.phonemes for w in phonemized.words}
        for word, (reading, voice) in foreign.items():
            detail = f"read by espeak-ng {voice}: {reading}"
            flag = G2PFlag(G2P_FOREIGN_READING, word, misaki.get(word, ""), fixed=self.foreign_readings, detail=detail)
            flags.append(flag)
        if foreign and self.foreign_readings:
            marked = apply_overrides(text, {word: reading for word, (reading, _) in foreign.items()})
            phonemized = self.g2p.phonemize_marked(text, marked)
        return text, phonemized, flags + self.heteronym_flags(phonemized)


def lower_words(text: str, words: Sequence[str] | set[str]) -> str:
    """``text`` with each whole-word occurrence of ``words`` in lower case."""
    for word in sorted(words, key=len, reverse=True):
        text = re.sub(rf"(?<![\w']){re.escape(word)}(?![\w'])", word.lower(), text)
    return text


def _default(entry) -> str:
    if isinstance(entry, dict):
        return entry.get("DEFAULT") or ""
    return entry or ""
