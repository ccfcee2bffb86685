"""What the server process does before synthesis, so that it never waits for an engine: voice
checks and packs, OpenAI voice names, and G2P per language (``lang_code``).

G2P runs on one dedicated thread (misaki and spaCy are not shared between threads); a language
is set up on first use and refused with a clear error when its G2P is not installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from pipeline.serve.voices import kokoro_voice
from pipeline.tts.engine import join_phonemes, split_phoneme_words
from pipeline.tts.g2p import G2P, PhonemizedWord
from pipeline.tts.voice_cache import VoiceCache
from pipeline.tts.voices import VoiceStore, canonical_recipe, english_accent

T = TypeVar("T")

# Kokoro's languages (the first letter of its voice names) and where their G2P comes from.
LANGUAGES = {
    "a": "American English (misaki)",
    "b": "British English (misaki)",
    "e": "Spanish (espeak-ng)",
    "f": "French (espeak-ng)",
    "h": "Hindi (espeak-ng)",
    "i": "Italian (espeak-ng)",
    "p": "Brazilian Portuguese (espeak-ng)",
    "j": "Japanese (misaki[ja])",
    "z": "Mandarin Chinese (misaki[zh])",
}


class LanguageUnavailable(ValueError):
    """A ``lang_code`` that is unknown or whose G2P is not installed."""


@dataclass(frozen=True, slots=True)
class Piece:
    """Words synthesized in one engine call (at most 510 phonemes)."""

    words: tuple[PhonemizedWord, ...]
    phonemes: str


class Frontend:
    def __init__(
        self,
        voices: VoiceStore,
        cache: VoiceCache,
        default_lang: str,
        openai_voices: dict[str, str],
        g2p_by_voice: bool = True,
    ) -> None:
        self.voices = voices
        self.cache = cache
        self.default_lang = default_lang
        self.openai_voices = openai_voices
        self.g2p_by_voice = g2p_by_voice  # an English voice's own accent when no lang_code is asked
        self._g2p: dict[str, G2P] = {}
        self._failed: dict[str, str] = {}
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="g2p")

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` on the G2P thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, func, *args)

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    # --- voices (any thread; nothing waits for synthesis) ---------------------------------

    def voice_spec(self, spec: str) -> str:
        return kokoro_voice(spec, self.openai_voices)

    def check_voice(self, spec: str) -> str:
        """The canonical recipe (VoiceError for an unknown voice); loads and caches nothing."""
        return canonical_recipe(self.voices.components(self.voice_spec(spec)))

    def lang_for(self, spec: str, lang: str | None) -> str | None:
        """The G2P language of a request: ``lang`` when asked, else the voice's own English
        (``bf_emma`` British, as generate phonemizes it; ``g2p_by_voice``), else None (the
        server's default). Call after ``check_voice``."""
        if lang or not self.g2p_by_voice:
            return lang
        return english_accent(self.voices.components(self.voice_spec(spec)))

    def pack(self, spec: str) -> np.ndarray:
        """The style pack (blends cached in a bounded LRU, built-ins pinned)."""
        components = self.voices.components(self.voice_spec(spec))
        canonical = canonical_recipe(components)
        pack = self.cache.get(canonical)
        if pack is None:
            pack = self.cache.put(canonical, self.voices.mix(components), pinned=len(components) == 1)
        return pack

    # --- G2P (on the G2P thread) -----------------------------------------------------------

    def loaded(self, lang: str | None) -> bool:
        """True when ``lang``'s G2P is set up (checking it needs no G2P thread)."""
        return (lang or self.default_lang).lower() in self._g2p

    def g2p(self, lang: str | None) -> G2P:
        code = (lang or self.default_lang).lower()
        if code not in LANGUAGES:
            raise LanguageUnavailable(f"unknown lang_code {code!r}; use one of {', '.join(LANGUAGES)}")
        if code in self._failed:
            raise LanguageUnavailable(self._failed[code])
        if code not in self._g2p:
            g2p = G2P(code)
            try:
                g2p.setup()
            except Exception as exc:  # ImportError, missing dictionaries, no espeak voice...
                self._failed[code] = f"lang_code {code!r} ({LANGUAGES[code]}): its G2P is not available here: {exc}"
                raise LanguageUnavailable(self._failed[code]) from exc
            self._g2p[code] = g2p
        return self._g2p[code]

    def pieces(self, text: str, lang: str | None) -> list[Piece]:
        """``text`` phonemized and cut into engine calls; ValueError when nothing is speakable."""
        groups = split_phoneme_words(self.g2p(lang).phonemize(text))
        pieces = [Piece(group, join_phonemes(group)) for group in groups]
        if not pieces:
            raise ValueError(f"nothing to say in {text[:40]!r}: no phonemes")
        return pieces
