"""Phoneme strings in misaki's alphabet (what Kokoro is fed): cleaning, a weighted edit distance
with phoneme-class costs, and the two questions the verdict rules ask of it.

Costs (one symbol each; misaki writes diphthongs as one letter: A=eɪ, I=aɪ, O=oʊ, W=aʊ, Y=ɔɪ):

* substituting one reduced vowel (ə ɪ ᵻ ᵊ ʊ) for another: 0.2, a flap/stop ɾ for t or d: 0.2;
* a voicing pair (p/b, t/d, k/ɡ, f/v, θ/ð, s/z, ʃ/ʒ, ʧ/ʤ): 0.4;
* any other vowel for a vowel: 0.6; a consonant for one of the same manner (stop, fricative,
  nasal, approximant): 0.7;
* inserting or deleting a reduced vowel: 0.3; anything else: 1.0.

``near`` (a proper noun or unknown word spelled another way): distance / fed length < 0.17, so one
full vowel change needs four symbols, a voicing pair three, and a whole extra consonant six.
``same_sound`` (homophone in context): absolute distance <= 0.4 (reduced vowels, flaps and one
voicing pair; "led" for fed "lid" is 0.6, not the same sound).

Example::

    phoneme_distance("dˈInə", "dˈinə")       # 0.6  ("Dinah" fed, "dina" heard)
    near("ɡɹˈɪfən", "ɡɹˈɪfɪn")              # True ("Gryphon" heard as "griffin")
    same_sound("lˈid", "lˈɛd")              # False ("lead" fed, "led" heard)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Stress, length and tie marks, syllable separators, spaces: none of them is a sound of its own.
_MARKS = re.compile(r"[ˈˌː̃ʲ‿\s\-.]")
_ALIASES = {"ɚ": "əɹ", "ɝ": "ɜɹ", "g": "ɡ", "r": "ɹ"}

REDUCED_VOWELS = frozenset("əɪᵻᵊʊ")
VOWELS = frozenset("aæɑɒɐʌɔeɛɜəɪiᵻᵊʊuoAIOWYQɚɝ")
_VOICING_PAIRS = ("pb", "td", "kɡ", "fv", "θð", "sz", "ʃʒ", "ʧʤ")
_VOICING = {a: b for a, b in _VOICING_PAIRS} | {b: a for a, b in _VOICING_PAIRS}
_MANNER = {
    **dict.fromkeys("pbtdkɡʔɾ", "stop"),
    **dict.fromkeys("fvθðszʃʒhʧʤ", "fricative"),
    **dict.fromkeys("mnŋ", "nasal"),
    **dict.fromkeys("lɹjwɫ", "approximant"),
}

NEAR_RATIO = 0.17
# A heard word this close to the fed phonemes (per fed symbol) is a candidate for the engine's own
# mistake when the engine, forced to read the label, also finds the label word plausible.
PLAUSIBLE_RATIO = 0.4
SAME_SOUND_MAX = 0.4


def clean(phonemes: str) -> str:
    """Phoneme symbols only: stress/length marks, spaces and punctuation (a word's fed phonemes
    carry the commas and quotes Kokoro read with it) removed, a few aliases unified."""
    text = _MARKS.sub("", phonemes)
    return "".join(_ALIASES.get(ch, ch) for ch in text if ch.isalpha())


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if a in VOWELS and b in VOWELS:
        return 0.2 if a in REDUCED_VOWELS and b in REDUCED_VOWELS else 0.6
    if a in VOWELS or b in VOWELS:
        return 1.0
    if {a, b} <= {"ɾ", "t", "d"}:
        return 0.2
    if _VOICING.get(a) == b:
        return 0.4
    manner = _MANNER.get(a)
    if manner is not None and manner == _MANNER.get(b):
        return 0.7
    return 1.0


def indel_cost(a: str) -> float:
    return 0.3 if a in REDUCED_VOWELS else 1.0


def phoneme_distance(fed: str, heard: str) -> float:
    """Weighted edit distance between two phoneme strings (cleaned first)."""
    a, b = clean(fed), clean(heard)
    prev = [0.0]
    for ch in b:
        prev.append(prev[-1] + indel_cost(ch))
    for ca in a:
        row = [prev[0] + indel_cost(ca)]
        for j, cb in enumerate(b, start=1):
            row.append(
                min(
                    prev[j - 1] + substitution_cost(ca, cb),
                    prev[j] + indel_cost(ca),
                    row[j - 1] + indel_cost(cb),
                )
            )
        prev = row
    return prev[-1]


def relative_distance(fed: str, heard: str) -> float:
    """``phoneme_distance`` per symbol of the fed phonemes (1.0 when nothing was fed)."""
    n = len(clean(fed))
    return phoneme_distance(fed, heard) / n if n else 1.0


def near(fed: str, heard: str) -> bool:
    """The heard pronunciation is the fed one spelled another way (names, unknown words)."""
    return bool(clean(heard)) and relative_distance(fed, heard) < NEAR_RATIO


def same_sound(fed: str, heard: str) -> bool:
    """The heard word sounds like the fed phonemes (a homophone in context)."""
    return bool(clean(heard)) and phoneme_distance(fed, heard) <= SAME_SOUND_MAX


def plausibly_heard(fed: str, heard: str) -> bool:
    """The heard pronunciation is close enough to the fed one for a recognizer to have confused
    them (at most ``PLAUSIBLE_RATIO`` of the fed symbols changed, class-weighted)."""
    return bool(clean(heard)) and relative_distance(fed, heard) <= PLAUSIBLE_RATIO


def without_final_r(phonemes: str) -> str:
    """``phonemes`` cleaned, every ɹ after a vowel and not before one dropped: how a non-rhotic
    accent (British English) says it ("answorth" ænswɜɹθ -> ænswɜθ)."""
    text = clean(phonemes)
    return "".join(
        ch
        for i, ch in enumerate(text)
        if not (ch == "ɹ" and i > 0 and text[i - 1] in VOWELS and (i + 1 == len(text) or text[i + 1] not in VOWELS))
    )


# US vowel -> the British one misaki writes for the same lexical set (LOT: "body" bˈɑdi / bˈɒdi;
# GOAT: "home" hˈOm / hˈQm). Only a fed reading that has the British vowel asks for the swap.
_BRITISH_VOWELS = (("ɑ", "ɒ"), ("O", "Q"))


def in_fed_accent(fed: str, heard: Iterable[str]) -> set[str]:
    """The heard pronunciations as the fed phonemes' accent says them (the heard words are read
    by a US lexicon and G2P too): when Kokoro was fed no ɹ after a vowel (a British reading,
    ˈɑːnswɜːθ), each one also without its post-vocalic ɹ; when the fed reading has British LOT or
    GOAT vowels (ɒ, Q), each one also with its US ones (ɑ, O) said that way ("breonna" bɹiɑnə as
    bɹiɒnə beside a fed bɹɪˈɒni)."""
    forms = set(heard)
    if without_final_r(fed) == clean(fed):
        forms |= {without_final_r(h) for h in forms}
    for us, british in _BRITISH_VOWELS:
        if british in fed:
            forms |= {h.replace(us, british) for h in forms}
    return forms
