"""One engine against the label: which reference tokens it heard exactly, which it heard
differently for a reason a rule knows, and which it got wrong.

The plain Levenshtein alignment (which gives the raw WER) is looked at again wherever the two
disagree. Each such stretch is widened to whole label words, whole engine words and whole
spoken numbers, then re-aligned with the block rules as extra, nearly free moves, so
"book shelves" -> "bookshelves" or "1865" -> "one thousand eight hundred sixty five" becomes
one explained step instead of a string of substitutions.

Example::

    reading = read_engine(normalize("The tale ends."), Hypothesis("p", "the tail ends"), lexicon)
    reading.tokens[1].status, reading.tokens[1].explanation.rule   # ('explained', 'homophone.cmudict')
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from verdicts.align import Alignment, AlignOp, align
from verdicts.engine_words import hypothesis_tokens
from verdicts.lexicon import Lexicon
from verdicts.normalize import Normalized
from verdicts.numbers import GLUE, is_number_word
from verdicts.records import Explanation, Hypothesis
from verdicts.rules import BLOCK_RULES, Block

# An explained block costs almost nothing (the same whatever its size, so one block covering a
# whole number beats a smaller block plus exact matches), but an exact match alone still wins.
_BLOCK_COST = 1e-3
# Above this many cells a disagreement is garbage, not a rule case: skip the block search.
_MAX_REFINE_CELLS = 900


# Not frozen: built for every word of every clip (a frozen dataclass's __init__ costs ~4x as much);
# treated as immutable all the same.
@dataclass(slots=True)
class TokenReading:
    status: Literal["ok", "explained", "wrong"]
    explanation: Explanation | None
    hyp: tuple[int, ...]  # engine token indices aligned to this reference token


@dataclass(frozen=True, slots=True)
class InsertedTokens:
    position: int  # reference token index they come before
    hyp: tuple[int, ...]
    explanation: Explanation | None


@dataclass(frozen=True, slots=True)
class EngineReading:
    """One engine's view of the label, token by token."""

    engine: str
    hypothesis: Hypothesis
    norm: Normalized
    engine_words: tuple[tuple[int, ...], ...] | None  # per word of ``norm``: indices into hypothesis.words
    alignment: Alignment
    tokens: tuple[TokenReading, ...]
    insertions: tuple[InsertedTokens, ...]


# --- one engine -------------------------------------------------------------------------------


def _runs(marked: Sequence[bool]) -> Iterator[tuple[int, int]]:
    k = 0
    while k < len(marked):
        if marked[k]:
            start = k
            while k < len(marked) and marked[k]:
                k += 1
            yield start, k
        else:
            k += 1


def _numberish(token: str) -> bool:
    return is_number_word(token) or token in GLUE or token == "point"


def _joins(op: AlignOp, run: Sequence[AlignOp], ref: Normalized, hyp: Normalized) -> bool:
    """Whether an exact match next to a disagreement belongs with it: same label word, same
    engine word, or part of the same spoken number."""
    if op.kind != "equal" or op.ref_index is None or op.hyp_index is None:
        return False
    ref_ix = [o.ref_index for o in run if o.ref_index is not None]
    hyp_ix = [o.hyp_index for o in run if o.hyp_index is not None]
    label = ref.source[op.ref_index]
    if ref_ix:
        if label in {ref.source[i] for i in ref_ix}:
            return True
    else:  # a pure insertion inside a label word
        p = run[0].ref_pos
        if 0 < p < len(ref.tokens) and ref.source[p - 1] == ref.source[p] == label:
            return True
    if hyp.source[op.hyp_index] in {hyp.source[j] for j in hyp_ix}:
        return True
    if _numberish(ref.tokens[op.ref_index]):
        return any(is_number_word(ref.tokens[i]) for i in ref_ix) or any(is_number_word(hyp.tokens[j]) for j in hyp_ix)
    return False


def _ref_side(ref: Normalized, r0: int, r1: int) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    labels = tuple(dict.fromkeys(ref.source[r0:r1]))
    whole = all(r0 <= ref.spans[w][0] and ref.spans[w][1] <= r1 for w in labels)
    return ref.tokens[r0:r1], tuple(ref.words[w] for w in labels), whole


def _block(ref: Normalized, r0: int, r1: int, hyp_tokens: tuple[str, ...]) -> Block:
    tokens, words, whole = _ref_side(ref, r0, r1)
    return Block(tokens, hyp_tokens, words, whole)


class Step(NamedTuple):
    """One move of a re-alignment, from state (i, j) (offsets into the stretch)."""

    kind: Literal["equal", "sub", "del", "ins", "block"]
    i: int
    j: int
    n_ref: int = 1  # tokens consumed (blocks only differ from the plain moves here)
    n_hyp: int = 1
    explanation: Explanation | None = None


def _explain(ref: Normalized, r0: int, a: int, hyp_tokens: tuple[str, ...], lexicon: Lexicon) -> Explanation | None:
    """The first block rule that explains ref[r0:r0+a] against ``hyp_tokens`` (small windows)."""
    r_first = ref.tokens[r0] if a else None
    h_first = hyp_tokens[0] if hyp_tokens else None
    for rule in BLOCK_RULES:
        if rule.min_ref <= a <= rule.max_ref and rule.min_hyp <= len(hyp_tokens) <= rule.max_hyp:
            if rule.first(r_first, h_first):
                explanation = rule.explain(_block(ref, r0, r0 + a, hyp_tokens), lexicon)
                if explanation is not None:
                    return explanation
    return None


_PLAIN: dict[str, Literal["sub", "del", "ins"]] = {"substitute": "sub", "delete": "del", "insert": "ins"}


def _refine_large(
    ops: Sequence[AlignOp], ref: Normalized, hyp: Normalized, r0: int, h0: int, lexicon: Lexicon
) -> list[Step]:
    """A disagreement too long to search (a garbled clip): keep the plain alignment and only ask
    the rules about each single substitution, deletion or insertion."""
    steps: list[Step] = []
    i, j = 0, 0
    for op in ops:
        if op.kind == "equal":
            steps.append(Step("equal", i, j))
        else:
            a = 0 if op.ref_index is None else 1
            b = 0 if op.hyp_index is None else 1
            heard = hyp.tokens[h0 + j : h0 + j + b]
            explanation = _explain(ref, r0 + i, a, heard, lexicon)
            if explanation is not None:
                steps.append(Step("block", i, j, a, b, explanation))
            else:
                steps.append(Step(_PLAIN[op.kind], i, j))
        i += 0 if op.ref_index is None else 1
        j += 0 if op.hyp_index is None else 1
    return steps


def _refine(ref: Normalized, hyp: Normalized, r0: int, r1: int, h0: int, h1: int, lexicon: Lexicon) -> list[Step]:
    """Re-align ref[r0:r1] with hyp[h0:h1], with explained blocks as extra moves. Steps use
    offsets relative to r0/h0."""
    R, H = ref.tokens[r0:r1], hyp.tokens[h0:h1]
    n, m = len(R), len(H)
    cost = [[math.inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[Step | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    ref_sides: dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...], bool]] = {}

    def relax(i: int, j: int, value: float, step: Step) -> None:
        if value < cost[i][j] - 1e-9:
            cost[i][j] = value
            back[i][j] = step

    for i in range(n + 1):
        for j in range(m + 1):
            c = cost[i][j]
            if c == math.inf:
                continue
            if i < n and j < m:
                same = R[i] == H[j]
                relax(i + 1, j + 1, c + (0.0 if same else 1.0), Step("equal" if same else "sub", i, j))
            if i < n:
                relax(i + 1, j, c + 1.0, Step("del", i, j))
            if j < m:
                relax(i, j + 1, c + 1.0, Step("ins", i, j))
            r_first = R[i] if i < n else None
            h_first = H[j] if j < m else None
            tried: set[tuple[int, int]] = set()
            for rule in BLOCK_RULES:
                if not rule.first(r_first, h_first):
                    continue
                for a in range(rule.min_ref, min(rule.max_ref, n - i) + 1):
                    for b in range(rule.min_hyp, min(rule.max_hyp, m - j) + 1):
                        if (a, b) == (0, 0) or (a, b) in tried:
                            continue
                        if (i, a) not in ref_sides:
                            ref_sides[(i, a)] = _ref_side(ref, r0 + i, r0 + i + a)
                        tokens, words, whole = ref_sides[(i, a)]
                        explanation = rule.explain(Block(tokens, H[j : j + b], words, whole), lexicon)
                        if explanation is not None:
                            tried.add((a, b))
                            relax(i + a, j + b, c + _BLOCK_COST, Step("block", i, j, a, b, explanation))
    steps: list[Step] = []
    i, j = n, m
    while i > 0 or j > 0:
        step = back[i][j]
        assert step is not None
        steps.append(step)
        i, j = step.i, step.j  # every step records the state it came from
    steps.reverse()
    return steps


def read_engine(ref: Normalized, hypothesis: Hypothesis, lexicon: Lexicon) -> EngineReading:
    """Align one engine against the label and explain what rules can explain."""
    engine_tokens = hypothesis_tokens(hypothesis)
    hyp = engine_tokens.norm
    alignment = align(ref.tokens, hyp.tokens)
    ops = alignment.ops
    marked = [op.kind != "equal" for op in ops]
    changed = True
    while changed:
        changed = False
        for a, b in list(_runs(marked)):
            for k in (a - 1, b):
                if 0 <= k < len(ops) and not marked[k] and _joins(ops[k], ops[a:b], ref, hyp):
                    marked[k] = True
                    changed = True
    # hyp position before each op
    hyp_pos, pos = [], 0
    for op in ops:
        hyp_pos.append(pos)
        if op.hyp_index is not None:
            pos = op.hyp_index + 1
    tokens: list[TokenReading | None] = [None] * len(ref.tokens)
    inserted: list[InsertedTokens] = []
    for op, is_marked in zip(ops, marked, strict=True):
        if not is_marked and op.ref_index is not None and op.hyp_index is not None:
            tokens[op.ref_index] = TokenReading("ok", None, (op.hyp_index,))
    for a, b in _runs(marked):
        r0, h0 = ops[a].ref_pos, hyp_pos[a]
        r1 = r0 + sum(1 for o in ops[a:b] if o.ref_index is not None)
        h1 = h0 + sum(1 for o in ops[a:b] if o.hyp_index is not None)
        if (r1 - r0) * (h1 - h0) <= _MAX_REFINE_CELLS:
            steps = _refine(ref, hyp, r0, r1, h0, h1, lexicon)
        else:
            steps = _refine_large(ops[a:b], ref, hyp, r0, h0, lexicon)
        for step in steps:
            kind, i, j = step.kind, r0 + step.i, h0 + step.j
            if kind == "equal":
                tokens[i] = TokenReading("ok", None, (j,))
            elif kind == "sub":
                tokens[i] = TokenReading("wrong", None, (j,))
            elif kind == "del":
                tokens[i] = TokenReading("wrong", None, ())
            elif kind == "ins":
                inserted.append(InsertedTokens(i, (j,), None))
            else:
                heard = tuple(range(j, j + step.n_hyp))
                if step.n_ref == 0:
                    inserted.append(InsertedTokens(i, heard, step.explanation))
                for k in range(i, i + step.n_ref):
                    tokens[k] = TokenReading("explained", step.explanation, heard)
    # An unexplained insertion between two tokens of one label word belongs to that word.
    kept: list[InsertedTokens] = []
    for ins in inserted:
        p = ins.position
        if ins.explanation is None and 0 < p < len(ref.tokens) and ref.source[p - 1] == ref.source[p]:
            before = tokens[p - 1]
            assert before is not None
            tokens[p - 1] = TokenReading("wrong", None, before.hyp + ins.hyp)
        else:
            kept.append(ins)
    readings = tuple(t for t in tokens if t is not None)
    assert len(readings) == len(tokens), "every reference token gets a reading"
    return EngineReading(
        hypothesis.engine, hypothesis, hyp, engine_tokens.engine_words, alignment, readings, tuple(kept)
    )
