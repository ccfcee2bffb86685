"""The G2P audit: what misaki made of a chunk, checked before Kokoro ever reads it.

Rules (ids are constants; every flag of a clip is stored with it, ``g2p_flags``):

* ``g2p.letter_spelling``: a word whose phonemes spell it letter by letter although its lower-case
  form is a dictionary word ("DRINK ME" -> "ɛm-i"). ALL-CAPS words are fixed by default: the word
  is read in lower case (``fixed`` True on the flag); ``keep_caps`` opts out. A word in lower or
  title case read letter by letter (a lexicon entry or phoneme override gone wrong) cannot be fixed
  that way and stays a finding. An ALL-CAPS word no lexicon knows is a name or a word when it is
  shaped like one (``word_shaped``: four letters or more, two vowels or more, no more than three
  consonants together at either end, no three vowels together: "IRENE NORTON, née ADLER" in a
  letter's signature), and is fixed the same way; initialisms ("BBC", "HTML", "USSR") are meant
  to be spelled and are not flagged.
* ``g2p.no_phonemes``: a word with letters or digits that got no phonemes at all (silent).
* ``g2p.unknown_marker``: misaki's unknown marker (``❓``) inside a word's phonemes.
* ``g2p.out_of_vocab``: phoneme symbols Kokoro's vocabulary lacks (the model skips them).
* ``g2p.heteronym_disputed``: the reading Kokoro is fed of a heteronym (a word misaki's lexicon
  reads by part of speech: close, lead, live, used, content, ...) has more independent opinions
  against it than for it. The opinions: misaki's reading of the same sentence with the
  part-of-speech tags of another tagger, two of them (spaCy ``en_core_web_md``, and gruut's CRF
  tagger, trained apart from spaCy's; misaki tags with ``en_core_web_sm``), and espeak-ng's reading
  of the sentence for the words of ``HETERONYMS``. An opinion that does not find the word as often
  as the fed text has no say. No recognizer can tell the readings apart (both are written the
  same), so the clip's reading is unverified: it costs the clip its place (reason
  ``g2p_heteronym``). Not fixed: which reading is right is not known. One rule of grammar
  overrules the votes: a verb whose auxiliary is a form of "have" (spaCy ``en_core_web_md``'s
  dependency parse) is a past participle, so where the lexicon has a past-participle reading
  (read, reread, wound) that reading decides ("we had all three read this": ``ɹˈɛd``, whatever the
  taggers and espeak-ng said).
* ``g2p.heteronym_uncertain``: some opinions against the fed reading, but no more than are for it
  (a tie). For review only.
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
from typing import TypeVar

from pipeline.tts.backend import kokoro_config
from pipeline.tts.espeak import EspeakReader, bare_word, english_voice, second_reading, word_reader
from pipeline.tts.g2p import (
    G2P,
    TAGGERS,
    Phonemized,
    PhonemizedWord,
    apply_overrides,
    independently_tagged,
    perfect_participles,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

G2P_LETTER_SPELLING = "g2p.letter_spelling"
G2P_NO_PHONEMES = "g2p.no_phonemes"
G2P_UNKNOWN_MARKER = "g2p.unknown_marker"
G2P_OUT_OF_VOCAB = "g2p.out_of_vocab"
G2P_HETERONYM_UNCERTAIN = "g2p.heteronym_uncertain"
G2P_HETERONYM_DISPUTED = "g2p.heteronym_disputed"
G2P_FOREIGN_READING = "g2p.foreign_reading"
G2P_RULES = (
    G2P_LETTER_SPELLING, G2P_NO_PHONEMES, G2P_UNKNOWN_MARKER, G2P_OUT_OF_VOCAB, G2P_HETERONYM_UNCERTAIN,
    G2P_HETERONYM_DISPUTED, G2P_FOREIGN_READING,
)  # fmt: skip

UNKNOWN_MARKER = "❓"  # misaki's ``unk``
_STRESS = str.maketrans("", "", "ˈˌː")
_MARKUP = re.compile(r"\[([^\]]*)\]\(/[^)]*/\)")  # misaki's ``[word](/phonemes/)``
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


_VOWEL_LETTERS = frozenset("aeiouy")


def word_shaped(word: str) -> bool:
    """Whether the letters of ``word`` read as a word rather than as an initialism: four or more
    letters, two or more vowels (a e i o u y), no more than three consonants together at either
    end (English allows "str", "ngth") and no three vowels together ("Irene", "Norton", "Adler",
    "Strauss" yes; "BBC", "HTML", "USSR", "IEEE" no)."""
    letters = word.lower()
    if len(letters) < 4 or not letters.isalpha():
        return False
    shape = "".join("v" if ch in _VOWEL_LETTERS else "c" for ch in letters)
    return (
        shape.count("v") >= 2
        and "c" in shape
        and not shape.startswith("cccc")
        and not shape.endswith("cccc")
        and "vvv" not in shape
    )


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
        self.tagged: dict[str, G2P] = {}  # tagger -> misaki with its tags (English, other opinions)
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
        if self.second_opinion and self.g2p.lang_code in ("a", "b"):
            self.tagged = {name: independently_tagged(self.g2p.lang_code, name) for name in TAGGERS}

    def in_dictionary(self, word: str) -> bool:
        return any(word in table for table in self._dictionary)

    def is_letter_spelling(self, word: str, phonemes: str) -> bool:
        """``phonemes`` spell ``word`` letter by letter and ``word.lower()`` is a word, or ``word``
        is an ALL-CAPS word shaped like one (a name: ``word_shaped``)."""
        if len(word) < 2 or not (word.isascii() and word.isalpha()):
            return False
        if not (self.in_dictionary(word.lower()) or (word.isupper() and word_shaped(word))):
            return False
        spelled = "".join(self._letters.get(c) or "?" for c in word.upper())
        return "".join(phonemes.translate(_STRESS).split()) == spelled.translate(_STRESS)

    def word_flags(self, phonemized: Phonemized) -> list[G2PFlag]:
        """The per-word rules (everything but the heteronym opinions)."""
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

    def is_heteronym(self, word: str) -> bool:
        """misaki's lexicon reads ``word`` by part of speech, and its readings differ in sound."""
        entry = self._dictionary[0].get(word.lower()) if self._dictionary else None
        if not isinstance(entry, dict):
            return False
        return len({v.translate(_STRESS) for v in entry.values() if isinstance(v, str)}) > 1

    def participle_reading(self, word: str) -> str | None:
        """The lexicon's past-participle reading of a heteronym (``VBN``), if it has one."""
        entry = self._dictionary[0].get(word.lower()) if self._dictionary else None
        return entry.get("VBN") if isinstance(entry, dict) else None

    def heteronym_flags(self, phonemized: Phonemized) -> list[G2PFlag]:
        """Heteronyms whose fed reading the other opinions contradict (module docstring). The
        k-th occurrence of a word is compared with the k-th occurrence in each opinion, and only
        where that opinion finds the word as often (otherwise it has no say on it)."""
        if not self.second_opinion:
            return []
        ours = [w for w in phonemized.words if w.text.lower() in HETERONYMS or self.is_heteronym(w.text)]
        if not ours:
            return []
        text = _MARKUP.sub(r"\1", phonemized.text)
        tagged = {name: g2p.phonemize(text).words for name, g2p in self.tagged.items()}
        theirs = self.espeak.words(text) if any(w.text.lower() in HETERONYMS for w in ours) else []
        parsed = perfect_participles(text) if self.tagged and any(self.participle_reading(w.text) for w in ours) else []
        flags = []
        for name in dict.fromkeys(w.text.lower() for w in ours):
            mine = [w for w in ours if w.text.lower() == name]
            n = len(mine)
            by_tagger = {
                tagger: _by_occurrence([w.phonemes for w in words if w.text.lower() == name], n)
                for tagger, words in tagged.items()
            }
            espeak = _by_occurrence([r for r in (heteronym_reading(name, p) for p in theirs) if r is not None], n)
            perfect = _by_occurrence([is_perfect for token, is_perfect in parsed if token == name], n)
            participle = self.participle_reading(name)
            for k, word in enumerate(mine):
                if perfect[k] and participle:
                    if grammar := _grammar_flag(word, participle):
                        flags.append(grammar)
                    continue
                opinions = [_tagger_opinion(word, tagger, readings[k]) for tagger, readings in by_tagger.items()]
                opinions.append(_espeak_opinion(word, espeak[k]))
                if flag := _heteronym_flag(word, [o for o in opinions if o is not None]):
                    flags.append(flag)
        return flags

    def audit(self, phonemized: Phonemized) -> list[G2PFlag]:
        return self.word_flags(phonemized) + self.heteronym_flags(phonemized)

    def foreign_words(self, text: str) -> dict[str, tuple[str, str]]:
        return foreign_readings(text, self._vocab)

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


def foreign_readings(text: str, vocab: frozenset[str] | None = None) -> dict[str, tuple[str, str]]:
    """Words of ``text`` in a run of another language -> (espeak-ng's reading of the word in
    that language, in Kokoro's symbols ``vocab``, default the model's; the espeak-ng voice). A
    word espeak-ng cannot read is left out."""
    from verdicts.languages import FOREIGN_LANGUAGES, foreign_runs

    vocab = vocab if vocab is not None else frozenset(kokoro_config()["vocab"])
    tokens = text.split()
    out: dict[str, tuple[str, str]] = {}
    for index, language in sorted(foreign_runs(tokens).items()):
        voice = FOREIGN_LANGUAGES[language]
        reader = word_reader(voice)
        word = bare_word(tokens[index])
        reading = second_reading(word, reader, vocab) if reader is not None and word else None
        if reading:
            out.setdefault(word, (reading, voice))
    return out


def _by_occurrence(readings: list[T], n: int) -> list[T | None]:
    """An opinion's readings of a word, one per occurrence, when it found the word ``n`` times;
    otherwise no say on any occurrence."""
    return list(readings) if len(readings) == n else [None] * n


@dataclass(frozen=True, slots=True)
class Opinion:
    """One independent reading of a fed heteronym: who gave it, what it is, whether it is the
    fed reading."""

    source: str  # "en_core_web_md", "gruut", "espeak-ng"
    reading: str
    agrees: bool


def _tagger_opinion(word: PhonemizedWord, tagger: str, reading: str | None) -> Opinion | None:
    """misaki's reading of the word with ``tagger``'s tags (None: that tagger has no say)."""
    if reading is None:
        return None
    return Opinion(tagger, reading, reading.translate(_STRESS) == word.phonemes.translate(_STRESS))


def _espeak_opinion(word: PhonemizedWord, reading: str | None) -> Opinion | None:
    """espeak-ng's reading (a reading name of ``HETERONYMS``); no say where it or the fed reading
    is not one of the table's readings."""
    fed = heteronym_reading(word.text, word.phonemes)
    if reading is None or fed is None:
        return None
    return Opinion("espeak-ng", reading, reading == fed)


def _heteronym_flag(word: PhonemizedWord, opinions: Sequence[Opinion]) -> G2PFlag | None:
    """The finding for one fed heteronym: disputed when more opinions are against the fed reading
    than for it, uncertain when some are against but no more than are for it."""
    against = sum(not o.agrees for o in opinions)
    if not against:
        return None
    rule = G2P_HETERONYM_DISPUTED if against > len(opinions) - against else G2P_HETERONYM_UNCERTAIN
    said = "; ".join(f"{o.source}: {o.reading}{'' if o.agrees else ' (against)'}" for o in opinions)
    return G2PFlag(rule, word.text, word.phonemes, detail=f"fed {word.phonemes}; {said}")


def _grammar_flag(word: PhonemizedWord, participle: str) -> G2PFlag | None:
    """The finding for a fed heteronym that is the verb of a perfect: disputed unless it is fed
    the past-participle reading; no vote is taken."""
    if participle.translate(_STRESS) == word.phonemes.translate(_STRESS):
        return None
    detail = f"fed {word.phonemes}; grammar: {participle} (against: a perfect's past participle)"
    return G2PFlag(G2P_HETERONYM_DISPUTED, word.text, word.phonemes, detail=detail)


def lower_words(text: str, words: Sequence[str] | set[str]) -> str:
    """``text`` with each whole-word occurrence of ``words`` in lower case."""
    for word in sorted(words, key=len, reverse=True):
        text = re.sub(rf"(?<![\w']){re.escape(word)}(?![\w'])", word.lower(), text)
    return text


def _default(entry) -> str:
    if isinstance(entry, dict):
        return entry.get("DEFAULT") or ""
    return entry or ""
