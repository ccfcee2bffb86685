"""Fault injection on a label's words: each function takes the label's tokens (the book's words,
split on whitespace, as ``WordVerdict.index`` counts them) and returns a ``Fault``: the edited
tokens Kokoro is asked to say, the label word indices the fault touches, and, for G2P faults, the
phonemes that replace the G2P's reading of one word. The label itself is never changed.

Pure text: the only outside knowledge comes through ``Phonetics`` (pronunciations from misaki's
lexicon), so the invariants are testable without a model.

Example::

    fault = delete_word("Alice was beginning to get very tired".split(), random.Random(0), phonetics)
    fault.kind, fault.indices, " ".join(fault.edited)   # ('deletion', (3,), 'Alice was beginning get very tired')
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class FaultKind(StrEnum):
    clean = "clean"
    substitution = "substitution"
    deletion = "deletion"
    insertion = "insertion"
    repetition_word = "repetition_word"
    repetition_phrase = "repetition_phrase"
    truncation = "truncation"
    swap = "swap"
    heteronym = "heteronym"
    spelled_out = "spelled_out"


# G2P faults: the text is the book's, the phonemes Kokoro is fed for one word are wrong (and the
# manifest stores those phonemes, as ``generate`` would have). Text faults: Kokoro was fed the
# label's phonemes (the manifest says so) and said something else.
G2P_FAULTS = frozenset({FaultKind.heteronym, FaultKind.spelled_out})
FAULT_KINDS: tuple[FaultKind, ...] = tuple(k for k in FaultKind if k is not FaultKind.clean)

_WORD = re.compile(r"^([^\w]*)([A-Za-z]+)([^\w]*)$")  # punctuation, letters only, punctuation
_STRESS = re.compile(r"[ˈˌ]")
SUBSTITUTE_MIN_DISTANCE = 0.5  # normalized phoneme edit distance: a substitute is never a sound-alike


class Phonetics(Protocol):
    """Pronunciations in misaki's alphabet (one lexicon: US or British)."""

    def readings(self, word: str) -> tuple[str, ...]:
        """Every dictionary reading of ``word`` (stress kept); () when not in the dictionary."""
        ...

    def heteronym_readings(self, word: str) -> tuple[str, ...]:
        """The readings of a heteronym (2+ that differ in more than stress); () otherwise."""
        ...

    def spelled(self, word: str) -> str | None:
        """``word`` read letter by letter, as misaki spells an acronym ("ME" -> ˌɛmˈi)."""
        ...


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    indices: tuple[int, ...]  # label word indices the fault touches
    edited: tuple[str, ...]  # the tokens Kokoro is asked to say
    overrides: tuple[tuple[int, str], ...] = ()  # (edited token index, phonemes fed for its word)
    insert_position: int | None = None  # label index the extra words come before (insertion, repetition)
    detail: str = ""  # human-readable: "sister -> garden", "read: ɹˈid -> ɹˈɛd"


@dataclass(frozen=True, slots=True)
class Token:
    prefix: str
    core: str
    suffix: str

    @property
    def bare(self) -> bool:
        return not self.prefix and not self.suffix


def parse(token: str) -> Token | None:
    """A token that is one word of letters with punctuation around it, else None."""
    m = _WORD.match(token)
    return Token(*m.groups()) if m else None


def phoneme_distance(a: str, b: str) -> float:
    """Levenshtein distance between two phoneme strings, stress ignored, over the longer length."""
    a, b = _STRESS.sub("", a), _STRESS.sub("", b)
    if not a or not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(len(a), len(b))


def _inner(tokens: Sequence[str], margin: int = 1) -> range:
    """Indices away from the edges (alignment at a clip's edges is its own problem)."""
    return range(margin, max(margin, len(tokens) - margin))


def _words(tokens: Sequence[str], pick: Callable[[int, Token], bool], margin: int = 1) -> list[int]:
    out = []
    for i in _inner(tokens, margin):
        token = parse(tokens[i])
        if token is not None and pick(i, token):
            out.append(i)
    return out


def _content(token: Token, min_len: int = 3) -> bool:
    return len(token.core) >= min_len and token.core.islower()


def substitute_word(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str]):
    """One word replaced by a different dictionary word that does not sound like it."""
    candidates = _words(tokens, lambda i, t: _content(t, 4) and bool(phonetics.readings(t.core)))
    rng.shuffle(candidates)
    for i in candidates:
        token = parse(tokens[i])
        assert token is not None
        near = [w for w in vocabulary if abs(len(w) - len(token.core)) <= 2 and w != token.core]
        for word in rng.sample(near, min(len(near), 40)):
            if _sounds_different(phonetics, token.core, word):
                edited = list(tokens)
                edited[i] = token.prefix + word + token.suffix
                return Fault(FaultKind.substitution, (i,), tuple(edited), detail=f"{token.core} -> {word}")
    return None


def _sounds_different(phonetics: Phonetics, a: str, b: str) -> bool:
    ra, rb = phonetics.readings(a), phonetics.readings(b)
    if not ra or not rb:
        return False
    return min(phoneme_distance(x, y) for x in ra for y in rb) >= SUBSTITUTE_MIN_DISTANCE


def delete_word(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = ()):
    """One word (3+ letters, no punctuation on it) left out."""
    candidates = _words(tokens, lambda i, t: t.bare and _content(t))
    if not candidates:
        return None
    i = rng.choice(candidates)
    edited = tuple(tokens[:i]) + tuple(tokens[i + 1 :])
    return Fault(FaultKind.deletion, (i,), edited, detail=f"-{tokens[i]}")


def insert_word(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str]):
    """A dictionary word the label does not have, between two words of one clause."""
    candidates = _words(tokens, lambda i, t: t.bare and (p := parse(tokens[i - 1])) is not None and p.bare)
    present = {t.lower() for t in tokens}
    words = [w for w in vocabulary if w not in present and phonetics.readings(w)]
    if not candidates or not words:
        return None
    i = rng.choice(candidates)
    word = rng.choice(words)
    edited = tuple(tokens[:i]) + (word,) + tuple(tokens[i:])
    return Fault(FaultKind.insertion, (i - 1, i), edited, insert_position=i, detail=f"+{word} before {tokens[i]}")


def repeat_word(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = ()):
    """One word said twice ("her her sister")."""
    candidates = _words(tokens, lambda i, t: not t.prefix and _content(t, 2))
    if not candidates:
        return None
    i = rng.choice(candidates)
    core = parse(tokens[i]).core  # type: ignore[union-attr]
    edited = tuple(tokens[:i]) + (core,) + tuple(tokens[i:])
    return Fault(FaultKind.repetition_word, (i,), edited, insert_position=i, detail=f"{core} {core}")


def repeat_phrase(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = ()):
    """Two words said twice ("by her by her sister")."""
    candidates = _words(
        tokens,
        lambda i, t: t.bare and i + 1 < len(tokens) and (n := parse(tokens[i + 1])) is not None and not n.prefix,
    )
    candidates = [i for i in candidates if i + 2 < len(tokens)]
    if not candidates:
        return None
    i = rng.choice(candidates)
    first, second = parse(tokens[i]).core, parse(tokens[i + 1]).core  # type: ignore[union-attr]
    edited = tuple(tokens[:i]) + (first, second) + tuple(tokens[i:])
    return Fault(
        FaultKind.repetition_phrase, (i, i + 1), edited, insert_position=i, detail=f"{first} {second} {first} {second}"
    )


# Closed-class words a sentence does not end on: a truncation keeps cutting until it does not
# end on one of these, so the edited text ends with the cadence of a finished sentence.
_FUNCTION_WORDS = frozenset(
    """a an the of to in on at by for with from into upon and or but nor that as so if than then
    his her its my your their our i you he she it we they me him them us who which what when
    whom whose this these those there is was were be been am are had have has do did not no
    very all said would could should shall will can may might must""".split()
)


def truncate(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = ()):
    """The last 3-5 words dropped; the new last word (not a function word where one of the
    three cuts allows) ends the sentence with a full stop."""
    cuts = rng.sample([3, 4, 5], 3)
    ends = {k: parse(tokens[-k - 1]) if len(tokens) > k + 3 else None for k in cuts}
    natural = [k for k in cuts if ends[k] is not None and ends[k].core.lower() not in _FUNCTION_WORDS]
    for k in natural + [k for k in cuts if k not in natural]:
        last = ends[k]
        if last is None:
            continue
        edited = tuple(tokens[: -k - 1]) + (last.prefix + last.core + ".",)
        return Fault(
            FaultKind.truncation,
            tuple(range(len(tokens) - k, len(tokens))),
            edited,
            detail=f"-{' '.join(tokens[-k:])}",
        )
    return None


def swap_words(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = ()):
    """Two neighbouring words said in the other order."""
    candidates = _words(
        tokens,
        lambda i, t: (
            t.bare
            and i + 1 < len(tokens) - 1
            and (n := parse(tokens[i + 1])) is not None
            and n.bare
            and n.core.lower() != t.core.lower()
        ),
    )
    if not candidates:
        return None
    i = rng.choice(candidates)
    edited = list(tokens)
    edited[i], edited[i + 1] = edited[i + 1], edited[i]
    return Fault(FaultKind.swap, (i, i + 1), tuple(edited), detail=f"{tokens[i + 1]} {tokens[i]}")


def misread_heteronym(
    tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = (), *, context=None
):
    """A heteronym fed with a reading other than the one the G2P chose in context.

    ``context(i)`` gives the phonemes the G2P read label word ``i`` with (None if unknown)."""
    candidates = []
    for i in _words(tokens, lambda i, t: len(t.core) >= 3 and bool(phonetics.heteronym_readings(t.core.lower()))):
        core = parse(tokens[i]).core  # type: ignore[union-attr]
        used = context(i) if context else None
        if used is None:
            continue
        others = [r for r in phonetics.heteronym_readings(core.lower()) if phoneme_distance(r, used) > 0]
        if others:
            candidates.append((i, core, used, others))
    if not candidates:
        return None
    i, core, used, others = rng.choice(candidates)
    wrong = rng.choice(sorted(others))
    return Fault(FaultKind.heteronym, (i,), tuple(tokens), overrides=((i, wrong),), detail=f"{core}: {used} -> {wrong}")


def spell_out(tokens: Sequence[str], rng: random.Random, phonetics: Phonetics, vocabulary: Sequence[str] = ()):
    """A lower-case word (2-5 letters) read letter by letter, as misaki reads an all-caps acronym."""
    candidates = _words(
        tokens, lambda i, t: 2 <= len(t.core) <= 5 and t.core.islower() and phonetics.spelled(t.core) is not None
    )
    if not candidates:
        return None
    i = rng.choice(candidates)
    core = parse(tokens[i]).core  # type: ignore[union-attr]
    letters = phonetics.spelled(core)
    assert letters is not None
    return Fault(FaultKind.spelled_out, (i,), tuple(tokens), overrides=((i, letters),), detail=f"{core}: {letters}")


INJECTORS: dict[FaultKind, Callable[..., Fault | None]] = {
    FaultKind.substitution: substitute_word,
    FaultKind.deletion: delete_word,
    FaultKind.insertion: insert_word,
    FaultKind.repetition_word: repeat_word,
    FaultKind.repetition_phrase: repeat_phrase,
    FaultKind.truncation: truncate,
    FaultKind.swap: swap_words,
    FaultKind.heteronym: misread_heteronym,
    FaultKind.spelled_out: spell_out,
}


def with_overrides(tokens: Sequence[str], overrides: Sequence[tuple[int, str]]) -> list[str]:
    """Tokens with misaki's phoneme markup on the overridden words: ``[read](/ɹˈɛd/)``."""
    out = list(tokens)
    for i, phonemes in overrides:
        token = parse(out[i])
        assert token is not None
        out[i] = f"{token.prefix}[{token.core}](/{phonemes}/){token.suffix}"
    return out
