"""From a label and one or two hypotheses to one verdict per label word.

For each engine: normalize, align (plain Levenshtein: that gives the raw WER), then look again
at every stretch where the two disagree. A stretch is widened to whole label words and whole
spoken numbers, and re-aligned with the block rules as extra, nearly free moves, so
"book shelves" -> "bookshelves" or "1865" -> "one thousand eight hundred sixty five" is one
explained step instead of a string of substitutions. Then ``rules.combine`` decides each label
word from both engines' readings.

Example::

    fv = judge_words("The tale ends.", Hypothesis("parakeet", "the tail ends"), None)
    [(w.label_word, w.verdict, w.rule) for w in fv.words]
    # [('The', 'pass', 'pass.exact'), ('tale', 'homophone', 'homophone.cmudict'), ('ends.', ...)]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from verdicts.align import Alignment, AlignOp, align
from verdicts.lexicon import Lexicon, default_lexicon
from verdicts.normalize import Normalized, normalize, normalize_words
from verdicts.numbers import GLUE, is_number_word
from verdicts.records import (
    INSERTION,
    Explanation,
    FileVerdicts,
    Hypothesis,
    HypWord,
    Insertion,
    WordVerdict,
)
from verdicts.rules import BLOCK_RULES, Block, Reading, combine
from verdicts.summary import DEFAULT_THRESHOLDS, Thresholds, summarize

# An explained block costs almost nothing (the same whatever its size, so one block covering a
# whole number beats a smaller block plus exact matches), but an exact match alone still wins.
_BLOCK_COST = 1e-3
# Above this many cells a disagreement is garbage, not a rule case: skip the block search.
_MAX_REFINE_CELLS = 900


@dataclass(frozen=True, slots=True)
class TokenReading:
    status: str  # ok | explained | wrong
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
    alignment: Alignment
    tokens: tuple[TokenReading, ...]
    insertions: tuple[InsertedTokens, ...]


def normalize_hypothesis(hypothesis: Hypothesis) -> Normalized:
    """Tokens of the engine's word list (so they map back to timed words), or of its text when
    it gave no words."""
    if hypothesis.words:
        return normalize_words([w.text for w in hypothesis.words])
    return normalize(hypothesis.text)


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
    return is_number_word(token) or token in GLUE


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


Step = tuple  # ("equal"|"sub"|"del"|"ins", i, j) or ("block", i, j, a, b, Explanation)


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


def _refine_large(
    ops: Sequence[AlignOp], ref: Normalized, hyp: Normalized, r0: int, h0: int, lexicon: Lexicon
) -> list[Step]:
    """A disagreement too long to search (a garbled clip): keep the plain alignment and only ask
    the rules about each single substitution, deletion or insertion."""
    steps: list[Step] = []
    i, j = 0, 0
    for op in ops:
        if op.kind == "equal":
            steps.append(("equal", i, j))
        else:
            a = 0 if op.ref_index is None else 1
            b = 0 if op.hyp_index is None else 1
            heard = hyp.tokens[h0 + j : h0 + j + b]
            explanation = _explain(ref, r0 + i, a, heard, lexicon)
            if explanation is not None:
                steps.append(("block", i, j, a, b, explanation))
            else:
                steps.append(({"substitute": "sub", "delete": "del", "insert": "ins"}[op.kind], i, j))
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
                relax(i + 1, j + 1, c + (0.0 if R[i] == H[j] else 1.0), ("equal" if R[i] == H[j] else "sub", i, j))
            if i < n:
                relax(i + 1, j, c + 1.0, ("del", i, j))
            if j < m:
                relax(i, j + 1, c + 1.0, ("ins", i, j))
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
                            relax(i + a, j + b, c + _BLOCK_COST, ("block", i, j, a, b, explanation))
    steps: list[Step] = []
    i, j = n, m
    while i > 0 or j > 0:
        step = back[i][j]
        assert step is not None
        steps.append(step)
        i, j = step[1], step[2]  # every step records the state it came from
    steps.reverse()
    return steps


def read_engine(ref: Normalized, hypothesis: Hypothesis, lexicon: Lexicon) -> EngineReading:
    """Align one engine against the label and explain what rules can explain."""
    hyp = normalize_hypothesis(hypothesis)
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
            kind, i, j = step[0], r0 + step[1], h0 + step[2]
            if kind == "equal":
                tokens[i] = TokenReading("ok", None, (j,))
            elif kind == "sub":
                tokens[i] = TokenReading("wrong", None, (j,))
            elif kind == "del":
                tokens[i] = TokenReading("wrong", None, ())
            elif kind == "ins":
                inserted.append(InsertedTokens(i, (j,), None))
            else:
                n_ref, n_hyp, explanation = step[3], step[4], step[5]
                heard = tuple(range(j, j + n_hyp))
                if n_ref == 0:
                    inserted.append(InsertedTokens(i, heard, explanation))
                for k in range(i, i + n_ref):
                    tokens[k] = TokenReading("explained", explanation, heard)
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
    return EngineReading(hypothesis.engine, hypothesis, hyp, alignment, readings, tuple(kept))


# --- both engines -----------------------------------------------------------------------------


def _word_reading(engine: EngineReading, start: int, end: int) -> tuple[Reading, tuple[int, ...]]:
    """Combine the token readings of one label word (tokens start..end)."""
    parts = engine.tokens[start:end]
    heard_ix = tuple(dict.fromkeys(k for t in parts for k in t.hyp))
    heard = tuple(engine.norm.tokens[k] for k in heard_ix)
    if all(t.status == "ok" for t in parts):
        return Reading("ok", None, heard), heard_ix
    if any(t.status == "wrong" for t in parts):
        return Reading("wrong", None, heard), heard_ix
    first = next(t.explanation for t in parts if t.status == "explained")
    return Reading("explained", first, heard), heard_ix


def _engine_words(engine: EngineReading, hyp_ix: Sequence[int]) -> list[HypWord]:
    words = engine.hypothesis.words
    if not words:
        return []
    ix = dict.fromkeys(engine.norm.source[k] for k in hyp_ix)
    return [words[i] for i in ix]


def _timing(words: Sequence[HypWord]) -> tuple[float | None, float | None, float | None]:
    starts = [w.start for w in words if w.start is not None]
    ends = [w.end for w in words if w.end is not None]
    confs = [w.confidence for w in words if w.confidence is not None]
    return (min(starts) if starts else None, max(ends) if ends else None, min(confs) if confs else None)


def _text(engine: EngineReading | None, hyp_ix: Sequence[int]) -> str | None:
    if engine is None:
        return None
    return " ".join(engine.norm.tokens[k] for k in hyp_ix)


def judge_words(
    reference_text: str,
    primary: Hypothesis,
    secondary: Hypothesis | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    mos: float | None = None,
    lexicon: Lexicon | None = None,
) -> FileVerdicts:
    """One verdict per label word, insertions, and the file summary.

    Example: ``judge_words("The tale ends.", Hypothesis("parakeet", "the tail ends"), None)``
    """
    lexicon = lexicon or default_lexicon()
    ref = normalize(reference_text)
    p = read_engine(ref, primary, lexicon)
    s = read_engine(ref, secondary, lexicon) if secondary is not None else None

    # Pure-markup words ("[1]", "<br>") have no tokens; what an engine inserted where they stand
    # is the TTS reading the markup, so it goes with the word, not into the insertions.
    markup_anchor = {ref.spans[w][0]: w for w in ref.markup if ref.spans[w][0] == ref.spans[w][1]}
    absorbed: dict[int, dict[str, list[int]]] = {}
    for engine in (p, s):
        if engine is None:
            continue
        for ins in engine.insertions:
            if ins.position in markup_anchor:
                absorbed.setdefault(markup_anchor[ins.position], {}).setdefault(engine.engine, []).extend(ins.hyp)

    rows: list[WordVerdict] = []
    for index, (start, end) in enumerate(ref.spans):
        is_markup = index in ref.markup
        if start == end and not is_markup:
            continue  # punctuation only ("—", "*"): not a word
        label = ref.tokens[start:end]
        if start == end:
            p_ix = tuple(absorbed.get(index, {}).get(p.engine, ()))
            s_ix = tuple(absorbed.get(index, {}).get(s.engine, ())) if s is not None else ()
            explanation = Explanation("gt_error", "gt_error.markup")
        else:
            p_read, p_ix = _word_reading(p, start, end)
            s_read, s_ix = _word_reading(s, start, end) if s is not None else (None, ())
            explanation = combine(label, p_read, s_read, lexicon, markup=is_markup)
        timed = _engine_words(p, p_ix) or (_engine_words(s, s_ix) if s is not None else [])
        start_s, end_s, confidence = _timing(timed)
        rows.append(
            WordVerdict(
                index=index,
                label_word=ref.words[index],
                norm_word=" ".join(label),
                primary_word=_text(p, p_ix),
                secondary_word=_text(s, s_ix),
                verdict=explanation.verdict,
                rule=explanation.rule,
                start_s=start_s,
                end_s=end_s,
                confidence=confidence,
            )
        )

    insertions = _insertions(ref, p, s, set(markup_anchor))
    summary = summarize(
        [r.verdict for r in rows],
        n_insertions=sum(1 for i in insertions if i.verdict == INSERTION),
        primary_wer=p.alignment.wer,
        secondary_wer=s.alignment.wer if s is not None else None,
        confidences=primary.confidences,
        thresholds=thresholds,
        mos=mos,
    )
    return FileVerdicts(
        words=tuple(rows),
        insertions=insertions,
        summary=summary,
        primary_engine=primary.engine,
        secondary_engine=secondary.engine if secondary is not None else None,
        primary_alignment=p.alignment,
        secondary_alignment=s.alignment if s is not None else None,
    )


def _insertions(ref: Normalized, p: EngineReading, s: EngineReading | None, skip: set[int]) -> tuple[Insertion, ...]:
    """One row per place in the label where an engine heard extra words."""
    by_position: dict[int, dict[str, list[InsertedTokens]]] = {}
    for role, engine in (("primary", p), ("secondary", s)):
        if engine is None:
            continue
        for ins in engine.insertions:
            if ins.position not in skip:
                by_position.setdefault(ins.position, {}).setdefault(role, []).append(ins)
    rows: list[Insertion] = []
    for position in sorted(by_position):
        found = by_position[position]
        p_ins, s_ins = found.get("primary", []), found.get("secondary", [])
        p_ix = tuple(k for ins in p_ins for k in ins.hyp)
        s_ix = tuple(k for ins in s_ins for k in ins.hyp)
        unexplained = {role for role, items in found.items() if any(i.explanation is None for i in items)}
        if not unexplained:
            verdict, rule = "filler_word", "filler_word.inserted"
        elif len(unexplained) == 2:
            verdict, rule = INSERTION, "insertion.both_engines"
        else:
            verdict, rule = INSERTION, f"insertion.{next(iter(unexplained))}_only"
        timed = _engine_words(p, p_ix) or (_engine_words(s, s_ix) if s is not None else [])
        start_s, end_s, confidence = _timing(timed)
        label_index = ref.source[position] if position < len(ref.tokens) else len(ref.words)
        rows.append(
            Insertion(
                index=-1 - len(rows),
                position=label_index,
                primary_word=_text(p, p_ix) if p_ix else ("" if p is not None else None),
                secondary_word=(_text(s, s_ix) if s_ix else "") if s is not None else None,
                verdict=verdict,
                rule=rule,
                start_s=start_s,
                end_s=end_s,
                confidence=confidence,
            )
        )
    return tuple(rows)
