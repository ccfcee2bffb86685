"""English contractions and the words they stand for: a recognizer may write "I've" as "I have"
(or the reverse) for the same speech.

``'s`` is expanded only after pronouns and question words ("it's" -> "it is"/"it has"): after a
noun it is usually a possessive ("Alice's"), which is no contraction.

Example::

    expansions(("i've", "got"))   # {("i've", "got"), ("i", "have", "got")}
"""

from __future__ import annotations

import functools
import itertools

# Whole words whose expansion no suffix rule gives.
_IRREGULAR: dict[str, tuple[tuple[str, ...], ...]] = {
    "won't": (("will", "not"),),
    "can't": (("can", "not"), ("cannot",)),
    "shan't": (("shall", "not"),),
    "ain't": (("am", "not"), ("is", "not"), ("are", "not")),
    "let's": (("let", "us"),),
    "cannot": (("can", "not"),),
}
# Endings -> what they stand for (the stem is the word before them).
_ENDINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("n't", ("not",)),
    ("'ve", ("have",)),
    ("'ll", ("will", "shall")),
    ("'re", ("are",)),
    ("'m", ("am",)),
    ("'d", ("would", "had")),
)
_S_STEMS = frozenset({"it", "he", "she", "that", "what", "there", "here", "who", "where", "how", "when", "why"})


@functools.lru_cache(maxsize=4096)
def word_expansions(token: str) -> tuple[tuple[str, ...], ...]:
    """The token itself, then every way to write it out in full (a normalized token)."""
    forms: list[tuple[str, ...]] = [(token,), *_IRREGULAR.get(token, ())]
    for ending, words in _ENDINGS:
        stem = token[: -len(ending)]
        if token.endswith(ending) and stem.isalpha():
            forms += [(stem, word) for word in words]
    if token.endswith("'s") and token[:-2] in _S_STEMS:
        forms += [(token[:-2], "is"), (token[:-2], "has")]
    return tuple(dict.fromkeys(forms))


def expansions(tokens: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Every way to write ``tokens`` with their contractions written out (or kept)."""
    return {tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*map(word_expansions, tokens))}


def has_contraction(token: str | None) -> bool:
    return token is not None and len(word_expansions(token)) > 1
