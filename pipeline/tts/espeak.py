"""espeak-ng (the library ``espeakng-loader`` bundles, through ``phonemizer``) as a second G2P:
an independent reading of English words (the G2P audit's heteronym opinion, heal's respell
rung) and the reading of words in another language (a run of French in an English book, read
at generate time and by heal; the verdicts' same-sound check).

Example::

    read = word_reader("fr-fr")                    # None when espeak-ng cannot load
    read("chatte")                                 # "ʃˈat"
    second_reading("chatte?”", read, vocab)        # "ʃˈat": misaki's notation, Kokoro's symbols
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Container

log = logging.getLogger(__name__)

# espeak-ng IPA -> misaki's symbols (diphthongs as one letter, r-colouring, reduced vowels)
_TO_MISAKI = (("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("əʊ", "O"), ("aʊ", "W"), ("ɔɪ", "Y"), ("ɚ", "əɹ"),
              ("ᵻ", "ɪ"), ("ɐ", "ə"), ("r", "ɹ"), ("ɡ", "ɡ"), ("tʃ", "ʧ"), ("dʒ", "ʤ"))  # fmt: skip
_AROUND = re.compile(r"^\W+|\W+$")


class EspeakReader:
    """espeak-ng reading a whole sentence in one language. Loaded in ``setup()``."""

    def __init__(self, language: str = "en-us") -> None:
        self.language = language
        self._backend = None

    def setup(self) -> None:
        if self._backend is not None:
            return
        import espeakng_loader
        from phonemizer.backend import EspeakBackend
        from phonemizer.backend.espeak.wrapper import EspeakWrapper

        EspeakWrapper.set_library(espeakng_loader.get_library_path())
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
        # phonemizer warns on every sentence whose word count espeak changes ("in the" -> one
        # word); callers cope with that themselves, so its logger only passes errors.
        quiet = logging.getLogger(f"{__name__}.phonemizer")
        quiet.setLevel(logging.ERROR)
        self._backend = EspeakBackend(self.language, with_stress=True, preserve_punctuation=False, logger=quiet)

    def words(self, text: str) -> list[str]:
        """espeak-ng's phonemes for ``text``, one string per word it spoke."""
        from phonemizer.separator import Separator

        if self._backend is None:
            raise RuntimeError("EspeakReader.setup() must be called first")
        (out,) = self._backend.phonemize([text], separator=Separator(word=" ", phone=""), strip=True)
        return out.split()


def english_voice(lang_code: str) -> str:
    """espeak-ng's voice for misaki's English ``lang_code``: "en-gb" for British ("b"), else "en-us"."""
    return "en-gb" if lang_code == "b" else "en-us"


@functools.lru_cache(maxsize=16)
def word_reader(language: str) -> Callable[[str], str | None] | None:
    """espeak-ng in ``language`` (an espeak-ng voice: "en-gb", "fr-fr") reading one word: its IPA,
    stress marks kept, None when it reads nothing. One reader per language and process; None
    when espeak-ng (or that voice) cannot load, said once in the log."""
    reader = EspeakReader(language)
    try:
        reader.setup()
    except Exception as exc:  # espeak-ng missing or broken: callers go without this reading
        log.warning("espeak-ng %s unavailable (%s)", language, exc)
        return None
    return lambda word: "".join(reader.words(word)) or None


def to_misaki(ipa: str) -> str:
    """espeak-ng's IPA in misaki's notation (stress marks kept)."""
    for theirs, ours in _TO_MISAKI:
        ipa = ipa.replace(theirs, ours)
    return ipa


def bare_word(token: str) -> str:
    """A label token without the punctuation around it: ``"“Où"`` -> ``"Où"``."""
    return _AROUND.sub("", token)


def second_reading(token: str, reader: Callable[[str], str | None], vocab: Container[str]) -> str | None:
    """espeak-ng's reading (``reader``: word -> IPA) of a label token without its punctuation, in
    misaki's notation and only in symbols Kokoro knows: ``"“Ugh!”"`` -> ``"ˈʌɡ"`` (misaki: ``ˈʌh``).
    None when there is no word or espeak-ng reads nothing."""
    word = bare_word(token)
    ipa = reader(word) if word else None
    if not ipa:
        return None
    return "".join(ch for ch in to_misaki(ipa) if ch in vocab) or None
