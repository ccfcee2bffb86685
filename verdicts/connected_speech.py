"""A word-final t or d at a word boundary: connected speech makes it a matter of grammar.

In running English speech a t or d that ends a word after another consonant is routinely dropped
before a word that starts with a consonant ("next day" said ``nɛks dA``, "walked to" said like
"walk to": t/d deletion, the most studied variable of English phonology, Labov; Guy). The other
way round, a listener who hears "save the" cannot tell it from "saved the": the d would be lost
in the ð. A recognizer's language model then picks one; the disagreement says nothing about the
speech.

``td_at_boundary`` is that test for one label word: Kokoro was fed ``fed`` (ending in a
consonant, no punctuation after it: a pause keeps every sound), the next label word's fed phonemes
start with a consonant, and the heard word is the fed sound with a t or d added, or with its final
t or d (after a consonant) dropped. A syllable (``ɪd``, "wanted") is never dropped in speech, and
neither is a vowel: those stay failures.

Example::

    td_at_boundary("sˈAv", "ðə", {"sAvd"})     # True: "save the" heard "saved the"
    td_at_boundary("wˈɔkt", "tə", {"wɔk"})     # True: "walked to" heard "walk to"
    td_at_boundary("sˈAv", "ˈæn", {"sAvd"})    # False: before a vowel the d would be heard
    td_at_boundary("sˈAv,", "ðə", {"sAvd"})    # False: a comma, a pause
"""

from __future__ import annotations

from collections.abc import Iterable

from verdicts.phonemes import VOWELS, clean

BOUNDARY_STOPS = frozenset("td")


_PAUSE_AFTER = ",.;:!?—–-…)”’\"'"  # punctuation a word's fed phonemes end with: a pause follows
_PAUSE_BEFORE = "“‘\"'(—–"  # punctuation a word's fed phonemes start with: a pause comes first


def _no_pause_between(fed: str, next_fed: str) -> bool:
    return bool(fed) and bool(next_fed) and fed[-1] not in _PAUSE_AFTER and next_fed[0] not in _PAUSE_BEFORE


def td_at_boundary(fed: str, next_fed: str | None, heard: Iterable[str]) -> bool:
    """Whether one of the ``heard`` pronunciations (misaki alphabet) is the ``fed`` one with a
    word-final t or d added or dropped, where connected speech hides it: after a consonant, before
    a next word (``next_fed``) that starts with a consonant, with no pause between."""
    said, following = clean(fed), clean(next_fed or "")
    if not said or not following or not _no_pause_between(fed, next_fed or ""):
        return False
    if said[-1] in VOWELS or following[0] in VOWELS:
        return False
    forms = {said + stop for stop in BOUNDARY_STOPS}
    if said[-1] in BOUNDARY_STOPS and len(said) >= 2 and said[-2] not in VOWELS:
        forms.add(said[:-1])
    return any(clean(h) in forms for h in heard)
