"""An engine's words as normalized tokens, each traceable to the timed engine words it came from.

Recognizers split words oddly: faster-whisper gives "4" + ",000" and "ma" + "'am," as separate
words (their text stripped). Normalizing those pieces one by one would read ",000" as "zero".
So the pieces are first put back together into the words of the transcript text (found there by
position), then normalized; each resulting word keeps the indices of the engine words inside it.

Example::

    h = Hypothesis("whisper", "Please, ma'am, 4,000", (Word("Please,", 0, .3, .9), Word("ma", .3, .4, .9),
                   Word("'am,", .4, .5, .9), Word("4", .5, .6, .9), Word(",000", .6, .9, .9)))
    ht = hypothesis_tokens(h)
    ht.norm.tokens        # ('please', "ma'am", 'four', 'thousand')
    ht.engine_words       # ((0,), (1, 2), (3, 4))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from verdicts.normalize import Normalized, normalize, normalize_words
from verdicts.records import Hypothesis, Word

# A piece that continues the previous word: "'am", "'s", ",000", ".5", "%", "n't".
_CONTINUATION = re.compile(r"^(?:'[A-Za-z]|n't|[,.]\d|%)")


@dataclass(frozen=True, slots=True)
class HypothesisTokens:
    norm: Normalized  # words = the engine's words re-joined as the transcript writes them
    engine_words: tuple[tuple[int, ...], ...] | None  # per re-joined word: indices into hypothesis.words


def _locate(text: str, words: Sequence[Word]) -> list[tuple[int, int]] | None:
    """Character span of each engine word in the transcript text, in order; None when the words
    cannot all be found there."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for word in words:
        piece = word.text.strip()
        if not piece:
            spans.append((pos, pos))
            continue
        at = text.find(piece, pos)
        if at < 0 or text[pos:at].strip():  # missing, or something unaccounted for in between
            return None
        spans.append((at, at + len(piece)))
        pos = at + len(piece)
    return spans


def _by_text(text: str, words: Sequence[Word], spans: list[tuple[int, int]]) -> list[tuple[str, tuple[int, ...]]]:
    out: list[tuple[str, tuple[int, ...]]] = []
    first = 0  # spans are in text order: those ending at or before a piece never touch a later one
    for match in re.finditer(r"\S+", text):
        start, end = match.span()
        while first < len(spans) and spans[first][1] <= start:
            first += 1
        inside = []
        for i in range(first, len(spans)):
            s, e = spans[i]
            if s >= end:
                break
            if start < e:
                inside.append(i)
        out.append((match.group(0), tuple(inside)))
    return out


def _by_gluing(words: Sequence[Word]) -> list[tuple[str, tuple[int, ...]]]:
    out: list[tuple[str, list[int]]] = []
    for i, word in enumerate(words):
        piece = word.text.strip()
        if not piece:
            continue
        if out and _CONTINUATION.match(piece) and not word.text[:1].isspace():
            out[-1] = (out[-1][0] + piece, [*out[-1][1], i])
        else:
            for part in piece.split():
                out.append((part, [i]))
    return [(text, tuple(ix)) for text, ix in out]


def hypothesis_tokens(hypothesis: Hypothesis) -> HypothesisTokens:
    """Normalized tokens of what the engine heard, mapped back to its timed words when it gave
    any (otherwise to the words of its text)."""
    words = hypothesis.words
    if not words:
        return HypothesisTokens(normalize(hypothesis.text), None)
    spans = _locate(hypothesis.text, words)
    joined = _by_text(hypothesis.text, words, spans) if spans is not None else _by_gluing(words)
    norm = normalize_words([text for text, _ in joined])
    return HypothesisTokens(norm, tuple(ix for _, ix in joined))
