"""From a label and one or two hypotheses to one verdict per label word, insertion rows and the
file summary: the public entry point ``judge_words``.

Each engine is read against the label on its own (``reading.read_engine``); then
``rules.combine`` decides each label word from both readings.

Example::

    fv = judge_words("The tale ends.", Hypothesis("parakeet", "the tail ends"), None)
    [(w.label_word, w.verdict, w.rule) for w in fv.words]
    # [('The', 'pass', 'pass.exact'), ('tale', 'homophone', 'homophone.cmudict'), ('ends.', ...)]
"""

from __future__ import annotations

from collections.abc import Sequence

from verdicts import rule_ids as ids
from verdicts.lexicon import Lexicon, default_lexicon
from verdicts.names import INSERTION
from verdicts.normalize import Normalized, normalize
from verdicts.reading import EngineReading, InsertedTokens, read_engine
from verdicts.records import Explanation, FileVerdicts, Hypothesis, Insertion, Word, WordVerdict
from verdicts.rules import WordReading, combine
from verdicts.summary import DEFAULT_THRESHOLDS, Thresholds, summarize


def _word_reading(engine: EngineReading, start: int, end: int) -> tuple[WordReading, tuple[int, ...]]:
    """Combine the token readings of one label word (tokens start..end)."""
    parts = engine.tokens[start:end]
    heard_ix = tuple(dict.fromkeys(k for t in parts for k in t.hyp))
    heard = tuple(engine.norm.tokens[k] for k in heard_ix)
    if all(t.status == "ok" for t in parts):
        return WordReading("ok", None, heard), heard_ix
    if any(t.status == "wrong" for t in parts):
        return WordReading("wrong", None, heard), heard_ix
    first = next(t.explanation for t in parts if t.status == "explained")
    return WordReading("explained", first, heard), heard_ix


def _engine_words(engine: EngineReading, hyp_ix: Sequence[int]) -> list[Word]:
    words, mapping = engine.hypothesis.words, engine.engine_words
    if not words or mapping is None:
        return []
    ix = dict.fromkeys(i for k in hyp_ix for i in mapping[engine.norm.source[k]])
    return [words[i] for i in ix]


def _timing(words: Sequence[Word]) -> tuple[float | None, float | None, float | None]:
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
            explanation = Explanation("gt_error", ids.GT_ERROR_MARKUP)
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
            verdict, rule = "filler_word", ids.FILLER_WORD_INSERTED
        elif len(unexplained) == 2:
            verdict, rule = INSERTION, ids.INSERTION_BOTH_ENGINES
        else:
            verdict, rule = INSERTION, ids.INSERTION_BY_ENGINE[next(iter(unexplained))]
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
