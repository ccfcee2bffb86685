"""The verdicts' lexicon with the project's G2P (misaki + espeak-ng) as the pronunciation of last
resort, for words neither CMUdict nor misaki's lexicon knows (``verdicts`` itself imports nothing
from ``pipeline``; it takes the G2P as a callable).

Example::

    judge_words(label, primary, secondary, thresholds, lexicon=g2p_lexicon())
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from verdicts import Lexicon
from verdicts.lexicon import cache_key

log = logging.getLogger(__name__)

# What a one-word G2P reading depends on: the G2P packages and the code that builds and calls them.
_G2P_PACKAGES = ("misaki", "espeakng-loader", "phonemizer-fork")
_G2P_CODE = (Path(__file__).resolve().parent / "tts" / "g2p.py", Path(__file__).resolve())
_END = "."  # the last field of a whole line of the word cache


def _engine() -> Any:
    from pipeline.tts.g2p import G2P

    engine = G2P()
    engine.setup()
    return engine


class WordCache:
    """One-word G2P readings kept on disk (``<cache_dir>/g2p-words/<version>.tsv``, one
    ``word<TAB>phonemes<TAB>.`` line each, appended as they are made), so a process that meets only
    words phonemized before never loads the G2P (spaCy and misaki: seconds per process). Each line
    is one short append that starts on a new line and ends with its own end mark, so processes can
    share the file and a line cut short by a kill is ignored, never read as a shorter reading."""

    def __init__(self, folder: Path | None) -> None:
        self.path = None if folder is None else folder / "g2p-words" / f"{cache_key(_G2P_PACKAGES, _G2P_CODE)}.tsv"
        self._words: dict[str, str] | None = None

    def get(self, word: str) -> str | None:
        """The stored reading ("" for a word the G2P gives nothing); None when not stored."""
        if self._words is None:
            self._words = self._read()
        return self._words.get(word)

    def put(self, word: str, phonemes: str) -> None:
        if self._words is None:
            self._words = self._read()
        self._words[word] = phonemes
        if self.path is None or any(c in word or c in phonemes for c in "\t\n\r"):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(f"\n{word}\t{phonemes}\t{_END}\n")
        except OSError as exc:  # a read-only cache: the readings stay in this process
            log.debug("G2P word cache %s not written: %s", self.path, exc)
            self.path = None

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return {}
        fields = (line.split("\t") for line in text.split("\n"))
        return {f[0]: f[1] for f in fields if len(f) == 3 and f[2] == _END}

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}  # the words are read again where it is unpickled

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self._words = state["path"], None


class G2PPhonemizer:
    """The project's G2P as a one-word phonemizer, set up on first use (and only for words the
    on-disk ``WordCache`` under ``cache_dir`` does not hold); None for every word when it cannot be
    loaded. Pickles without the model."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._engine: Any = None
        self._failed = False
        self._cache = WordCache(cache_dir)

    def __call__(self, word: str) -> str | None:
        stored = self._cache.get(word)
        if stored is not None:
            return stored or None
        if not self._load():
            return None
        phonemes = self._engine.phonemize(word).phonemes
        self._cache.put(word, phonemes)
        return phonemes or None

    def _load(self) -> bool:
        """Set the G2P up once; False when it cannot be loaded."""
        if self._engine is None and not self._failed:
            try:
                self._engine = _engine()
            except Exception as exc:  # optional: homophones of unknown words are then not found
                log.warning("G2P fallback unavailable (%s); unknown words get no pronunciation", exc)
                self._failed = True
        return self._engine is not None

    def label_words(self, text: str) -> tuple[str, ...] | None:
        """The G2P's phonemes for each whitespace-split word of ``text`` read as one sentence
        (in context, the way generate phonemizes a chunk), with the words of a run in another
        language read by espeak-ng in it, as generate's G2P audit feeds them ("“Où est ma
        chatte?”": ``ʃˈat``, not misaki's English ``ʧˈæt``); None when the G2P cannot be loaded."""
        if not self._load():
            return None
        from pipeline.chunking import speakable, word_phonemes
        from pipeline.tts.g2p import apply_overrides
        from pipeline.tts.g2p_audit import foreign_readings

        speak = speakable(text)
        phonemized = self._engine.phonemize(speak)
        if foreign := foreign_readings(speak):
            marked = apply_overrides(speak, {word: reading for word, (reading, _) in foreign.items()})
            phonemized = self._engine.phonemize_marked(speak, marked)
        return word_phonemes(text.split(), phonemized)

    def __getstate__(self) -> dict[str, Any]:
        return {"_engine": None, "_failed": self._failed, "_cache": self._cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._engine, self._failed, self._cache = state["_engine"], state["_failed"], state["_cache"]


def _cache_dir() -> Path:
    from pipeline.settings import get_settings

    return Path(get_settings().cache_dir).resolve()


@functools.lru_cache(maxsize=1)
def _phonemizer() -> G2PPhonemizer:
    return G2PPhonemizer(_cache_dir())


def fed_phonemes(text: str) -> tuple[str, ...] | None:
    """Per label word, what the project G2P gives it in context: the phonemes a clip of ours was
    fed (manifests written before ``word_phonemes`` was stored), the G2P reading for other data."""
    return _phonemizer().label_words(text)


@functools.lru_cache(maxsize=1)
def g2p_lexicon() -> Lexicon:
    """The shared lexicon of this process: shipped dictionaries, the project G2P for unknown words."""
    return Lexicon(phonemize=_phonemizer(), dictionaries_cache=_cache_dir() / "lexicon")


@functools.lru_cache(maxsize=1 << 14)
def _sound_in(language: str, word: str) -> str | None:
    from pipeline.tts.espeak import word_reader
    from verdicts.languages import FOREIGN_LANGUAGES

    reader = word_reader(FOREIGN_LANGUAGES[language])
    return reader(word) if reader is not None else None


def same_sound_in(language: str, label_word: str, heard_word: str) -> bool:
    """Whether espeak-ng reads the two words near alike in ``language`` ("chatte" and "chate": ``ʃat``)."""
    from verdicts.phonemes import near

    a, b = _sound_in(language, label_word), _sound_in(language, heard_word)
    return a is not None and b is not None and near(a, b)
