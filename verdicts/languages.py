"""Runs of label words in another language ("“Où est ma chatte?”" in an English book).

An English recognizer can only guess how to write words of another language, as it guesses a
name; the verdict rules judge such words by what Kokoro was fed (like names), and heal reads
them with that language's G2P. A word is *clearly* of language L when L's word lists count it
at least ``CLEAR_MIN_ZIPF`` and at least ``CLEAR_MARGIN`` more often than English does ("est",
"chatte" in French); it *may be* of L when L counts it at least as often as English ("ma"). A
run is a stretch of adjacent words that may all be of L holding at least ``MIN_CLEAR_WORDS``
different clearly-L words; one foreign-looking word alone ("Los" of "Los Angeles"), or said
twice ("Tut, tut"), is not a run.
Frequencies are wordfreq's (Zipf scale); without wordfreq nothing is foreign.

Example::

    foreign_runs("So she began again: “Où est ma chatte?” which was".split())
    # -> {4: "fr", 5: "fr", 6: "fr", 7: "fr"}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

# wordfreq's code -> espeak-ng's voice for the language's G2P
FOREIGN_LANGUAGES = {"fr": "fr-fr", "es": "es", "de": "de", "it": "it", "pt": "pt"}
CLEAR_MIN_ZIPF = 4.0
CLEAR_MARGIN = 2.0
MIN_CLEAR_WORDS = 2

Frequency = Callable[[str, str], float]  # (word, language) -> Zipf frequency
_NOT_LETTERS = re.compile(r"[^\w']|[\d_]")


@functools.cache
def _wordfreq() -> Frequency | None:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # an optional dependency: no foreign words without it
        return None
    return zipf_frequency


def _letters(word: str) -> str:
    return _NOT_LETTERS.sub("", word).strip("'").lower()


def _class(letters: str, language: str, frequency: Frequency) -> int:
    """2: clearly of ``language``; 1: may be; 0: not (or no letters)."""
    if not letters:
        return 0
    theirs, english = frequency(letters, language), frequency(letters, "en")
    if theirs >= CLEAR_MIN_ZIPF and theirs - english >= CLEAR_MARGIN:
        return 2
    return 1 if theirs > 0 and theirs >= english else 0


@functools.lru_cache(maxsize=1 << 16)
def _wordfreq_classes(letters: str) -> tuple[int, ...]:
    """``_class`` per language of ``FOREIGN_LANGUAGES`` with wordfreq (a re-verdict meets the same
    words in clip after clip)."""
    frequency = _wordfreq()
    assert frequency is not None
    return tuple(_class(letters, language, frequency) for language in FOREIGN_LANGUAGES)


def foreign_runs(words: Sequence[str], frequency: Frequency | None = None) -> dict[int, str]:
    """Label word index -> language code (``FOREIGN_LANGUAGES``) for every word inside a run of
    another language; a word claimed by two languages goes to the run with more clear words."""
    if len(words) < MIN_CLEAR_WORDS or (frequency is None and _wordfreq() is None):
        return {}
    letters = [_letters(w) for w in words]
    if frequency is None:
        per_word = [_wordfreq_classes(w) for w in letters]
    else:
        per_word = [tuple(_class(w, language, frequency) for language in FOREIGN_LANGUAGES) for w in letters]
    if sum(1 for classes in per_word if 2 in classes) < MIN_CLEAR_WORDS:
        return {}  # most labels: no run can exist
    runs: list[tuple[int, int, int, str]] = []  # (different clear words, start, end, language)
    for k, language in enumerate(FOREIGN_LANGUAGES):
        classes = [c[k] for c in per_word]
        start = 0
        while start < len(classes):
            if not classes[start]:
                start += 1
                continue
            end = start
            while end < len(classes) and classes[end]:
                end += 1
            clear = len({letters[i] for i in range(start, end) if classes[i] == 2})
            if clear >= MIN_CLEAR_WORDS:
                runs.append((clear, start, end, language))
            start = end
    out: dict[int, str] = {}
    for _, start, end, language in sorted(runs, key=lambda r: (-r[0], r[1])):
        if not any(i in out for i in range(start, end)):
            out.update(dict.fromkeys(range(start, end), language))
    return out
