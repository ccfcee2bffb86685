"""The verdicts' lexicon with the project's G2P (misaki + espeak-ng) as the pronunciation of last
resort, for words neither CMUdict nor misaki's lexicon knows (``verdicts`` itself imports nothing
from ``pipeline``; it takes the G2P as a callable).

Example::

    judge_words(label, primary, secondary, thresholds, lexicon=g2p_lexicon())
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from verdicts import Lexicon

log = logging.getLogger(__name__)


def _engine() -> Any:
    from pipeline.tts.g2p import G2P

    engine = G2P()
    engine.setup()
    return engine


class G2PPhonemizer:
    """The project's G2P as a one-word phonemizer, set up on first use; None for every word when
    it cannot be loaded. Pickles without the model."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._failed = False

    def __call__(self, word: str) -> str | None:
        if self._engine is None and not self._failed:
            try:
                self._engine = _engine()
            except Exception as exc:  # optional: homophones of unknown words are then not found
                log.warning("G2P fallback unavailable (%s); unknown words get no pronunciation", exc)
                self._failed = True
        if self._engine is None:
            return None
        return self._engine.phonemize(word).phonemes or None

    def label_words(self, text: str) -> tuple[str, ...] | None:
        """The G2P's phonemes for each whitespace-split word of ``text`` read as one sentence
        (in context, the way generate phonemizes a chunk); None when the G2P cannot be loaded."""
        self("a")  # loads the engine once
        if self._engine is None:
            return None
        from pipeline.chunking import speakable, word_phonemes

        return word_phonemes(text.split(), self._engine.phonemize(speakable(text)))

    def __getstate__(self) -> dict[str, Any]:
        return {"_engine": None, "_failed": self._failed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._engine, self._failed = state["_engine"], state["_failed"]


@functools.lru_cache(maxsize=1)
def _phonemizer() -> G2PPhonemizer:
    return G2PPhonemizer()


def fed_phonemes(text: str) -> tuple[str, ...] | None:
    """Per label word, what the project G2P gives it in context: the phonemes a clip of ours was
    fed (manifests written before ``word_phonemes`` was stored), the G2P reading for other data."""
    return _phonemizer().label_words(text)


@functools.lru_cache(maxsize=1)
def g2p_lexicon() -> Lexicon:
    """The shared lexicon of this process: shipped dictionaries, the project G2P for unknown words."""
    return Lexicon(phonemize=_phonemizer())
