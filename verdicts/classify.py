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

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from verdicts import rule_ids as ids
from verdicts.connected_speech import td_at_boundary
from verdicts.languages import SameSound, foreign_runs, heard_in_language
from verdicts.lexicon import Lexicon, default_lexicon
from verdicts.names import COUNTED_VERDICTS, INSERTION, Verdict
from verdicts.normalize import Normalized, normalize
from verdicts.phonemes import clean, in_fed_accent
from verdicts.reading import EngineReading, InsertedTokens, read_engine
from verdicts.records import Explanation, FileVerdicts, Hypothesis, Insertion, Word, WordVerdict
from verdicts.repeats import with_forced_repeats
from verdicts.rules import (
    WordContext,
    WordReading,
    combine,
    run_sounds_as_fed,
    sounds_as_fed,
    split_sounds_as_fed,
)
from verdicts.summary import DEFAULT_THRESHOLDS, Thresholds, summarize
from verdicts.weak_forms import weak_forms_collide

# Extra words that every engine that ran heard: they count like a tts_failure. Heard by one of
# two engines they count like an ambiguous word.
CONFIRMED_INSERTION_RULES = frozenset(
    {ids.INSERTION_BOTH_ENGINES, ids.INSERTION_SINGLE_ENGINE, ids.INSERTION_REPEAT_FORCED}
)
# A word ends a sentence when its letters are followed by . ! ? or : (then quotes or brackets).
_SENTENCE_END = re.compile(r"[.!?:][\"'”’)\]]*$")
# The most adjacent words a moved word boundary can join ("in sight" -> "inside": two): longer
# stretches of failures are not one word written another way, and would cost quadratic time.
_MAX_MOVED_RUN = 4
# A word every engine heard as written (``combine``'s first answer for it).
_PASS = Explanation("pass", ids.PASS_EXACT)


def _label_prob(engine: EngineReading, index: int) -> float | None:
    probs = engine.hypothesis.label_probs
    return probs[index] if probs is not None and index < len(probs) else None


def _word_reading(
    engine: EngineReading, index: int, start: int, end: int, fed: str | None, lexicon: Lexicon
) -> tuple[WordReading, tuple[int, ...]]:
    """Combine the token readings of label word ``index`` (tokens start..end). A homophone counts
    only when the heard word sounds like what Kokoro was fed for this word (when that is known)."""
    parts = engine.tokens[start:end]
    heard_ix = tuple(dict.fromkeys(k for t in parts for k in t.hyp))
    heard = tuple(engine.norm.tokens[k] for k in heard_ix)
    if all(t.status == "ok" for t in parts):
        return WordReading("ok", None, heard), heard_ix
    # A block rule that names a failure (letters one by one) groups the tokens but explains nothing.
    if any(t.status == "wrong" or (t.explanation and t.explanation.verdict == "tts_failure") for t in parts):
        return WordReading("wrong", None, heard, _label_prob(engine, index)), heard_ix
    first = next(t.explanation for t in parts if t.status == "explained")
    assert first is not None
    if first.verdict == "homophone" and fed and end - start == 1 and len(heard) == 1:
        if not sounds_as_fed(heard, fed, lexicon):
            return WordReading("wrong", None, heard, _label_prob(engine, index)), heard_ix
    return WordReading("explained", first, heard), heard_ix


# What one engine heard for a label word: (engine token index, token) pairs.
_Heard = tuple[tuple[int, str], ...]
# (engine, its reading of the word, the engine tokens it took)
_Side = tuple[EngineReading | None, WordReading | None, tuple[int, ...]]


def _joined_readings(
    engine: EngineReading | None,
    read: WordReading | None,
    ix: tuple[int, ...],
    span: tuple[int, int],
    taken: set[int],
) -> Iterator[tuple[WordReading | None, tuple[int, ...], int | None]]:
    """The reading as it is, then with the engine's unexplained extra words just before or just
    after the word joined to it: (reading, tokens, position of the joined insertion or None)."""
    yield read, ix, None
    if engine is None or read is None or read.status != "wrong":
        return
    start, end = span
    for at in dict.fromkeys((start, end)):
        run = sorted(k for i in engine.insertions if i.explanation is None and i.position == at for k in i.hyp)
        if not run or at in taken:
            continue
        extra = tuple(engine.norm.tokens[k] for k in run)
        heard = (*extra, *read.heard) if at == start else (*read.heard, *extra)
        tokens = (*run, *ix) if at == start else (*ix, *run)
        yield WordReading("wrong", None, tuple(t for t in heard if t), read.label_prob), tokens, at


def _split_word(
    label: tuple[str, ...],
    span: tuple[int, int],
    primary: _Side,
    secondary: _Side,
    context: WordContext,
    lexicon: Lexicon,
    split: dict[str, set[int]],
) -> tuple[Explanation, tuple[int, ...], tuple[int, ...]] | None:
    """An engine that wrote one spoken word as two (the name "barrowful" as "bear o" + "full")
    leaves half of it as extra words beside the label word. When joining that half back makes the
    word a spelling variant or the engine's own mistake (the rules on the fed phonemes), the word
    takes it and the insertion row goes (``split``); otherwise None."""
    (p, p_read, p_ix), (s, s_read, s_ix) = primary, secondary
    s_taken = split.get(s.engine, set()) if s is not None else set()
    tries = [
        (p_try, s_try)
        for p_try in _joined_readings(p, p_read, p_ix, span, split.get(p.engine, set()))
        for s_try in _joined_readings(s, s_read, s_ix, span, s_taken)
        if p_try[2] is not None or s_try[2] is not None
    ]
    # both engines' halves joined first: when that explains the word, no insertion row is left
    tries.sort(key=lambda pair: (pair[0][2] is None) + (pair[1][2] is None))
    for (p_try, p_tokens, p_at), (s_try, s_tokens, s_at) in tries:
        explanation = combine(label, p_try, s_try, lexicon, context=context)
        if explanation.verdict in ("spelling_variant", "stt_error", "compound"):
            for engine, at in ((p, p_at), (s, s_at)):
                if engine is not None and at is not None:
                    split.setdefault(engine.engine, set()).add(at)
            return explanation, p_tokens, s_tokens
    return None


# An engine's own mistake, not counted: the primary's (stt_error) or the secondary's.
_ONE_ENGINE_ERRORS = frozenset({Verdict.STT_ERROR, Verdict.SECONDARY_ERROR})


def _own_split(
    label: tuple[str, ...],
    span: tuple[int, int],
    side: _Side,
    context: WordContext,
    lexicon: Lexicon,
    split: dict[str, set[int]],
) -> tuple[int, ...] | None:
    """The word an engine got wrong while the other heard it: when that engine's extra words
    just beside it, joined to what it heard there, sound as Kokoro was fed the word ("accustomed"
    heard "a" + "customed"), they are that word written as two, not an extra word: the tokens the
    word takes then (the insertion row goes, ``split``); otherwise None."""
    engine, read, ix = side
    if engine is None or read is None:
        return None
    for joined, tokens, at in _joined_readings(engine, read, ix, span, split.get(engine.engine, set())):
        if at is not None and joined is not None and split_sounds_as_fed(label, [joined.heard], context, lexicon):
            split.setdefault(engine.engine, set()).add(at)
            return tokens
    return None


def proper_noun(words: Sequence[str], index: int, lexicon: Lexicon) -> bool:
    """A capitalized word that is not all capitals, inside a sentence, or at a sentence start when
    misaki's curated lexicon does not list it (CMUdict lists most names): a name, whose spelling an
    engine can only guess."""
    letters = "".join(ch for ch in words[index] if ch.isalpha() or ch == "'").strip("'")
    if not letters or not letters[0].isupper() or (len(letters) > 1 and letters.isupper()):
        return False
    starts_sentence = index == 0 or bool(_SENTENCE_END.search(words[index - 1]))
    return not starts_sentence or not lexicon.is_listed(letters.lower())


def _engine_words(engine: EngineReading, hyp_ix: Sequence[int]) -> list[Word]:
    words, mapping = engine.hypothesis.words, engine.engine_words
    if not words or mapping is None:
        return []
    if len(hyp_ix) == 1:  # most words: one engine token
        return [words[i] for i in mapping[engine.norm.source[hyp_ix[0]]]]
    ix = dict.fromkeys(i for k in hyp_ix for i in mapping[engine.norm.source[k]])
    return [words[i] for i in ix]


def _timing(words: Sequence[Word]) -> tuple[float | None, float | None, float | None]:
    start = end = confidence = None
    for w in words:
        if w.start is not None and (start is None or w.start < start):
            start = w.start
        if w.end is not None and (end is None or w.end > end):
            end = w.end
        if w.confidence is not None and (confidence is None or w.confidence < confidence):
            confidence = w.confidence
    return start, end, confidence


def _text(engine: EngineReading | None, hyp_ix: Sequence[int]) -> str | None:
    if engine is None:
        return None
    return " ".join(engine.norm.tokens[k] for k in hyp_ix)


_HEARD_IN_LANGUAGE = Explanation(Verdict.STT_ERROR.value, ids.STT_ERROR_HEARD_IN_LANGUAGE)


def _heard_in_language(
    words: Sequence[str],
    foreign: Mapping[int, str],
    engines: Sequence[Hypothesis | None],
    same_sound: SameSound | None,
) -> set[int]:
    """Label words of another language that some engine's listen in that language heard."""
    out: set[int] = set()
    for engine in engines:
        for listen in engine.listens if engine is not None else ():
            heard = heard_in_language(words, listen, same_sound)
            out |= {i for i in heard if foreign.get(i) == listen.language}
    return out


def judge_words(
    reference_text: str,
    primary: Hypothesis,
    secondary: Hypothesis | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    mos: float | None = None,
    lexicon: Lexicon | None = None,
    fed_phonemes: Sequence[str] | None = None,
    same_sound: SameSound | None = None,
) -> FileVerdicts:
    """One verdict per label word, insertions, and the file summary.

    ``fed_phonemes``: what Kokoro was fed for each label word (whitespace-split label words, in
    order); with it, homophones are judged in context and a name heard as another spelling of its
    fed phonemes is a spelling variant. Ignored when it does not have one entry per word.

    ``same_sound(language, label word, heard word)``: whether two words of another language sound
    the same in it, for the engines' second listens to runs of that language
    (``Hypothesis.listens``): a run word such a listen heard is the English pass's mistake
    (``stt_error.heard_in_language``). Without it only the same letters count.

    Example: ``judge_words("The tale ends.", Hypothesis("parakeet", "the tail ends"), None)``
    """
    lexicon = lexicon or default_lexicon()
    ref = normalize(reference_text)
    fed = tuple(fed_phonemes) if fed_phonemes is not None and len(fed_phonemes) == len(ref.words) else None
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

    split: dict[str, set[int]] = {}  # engine -> positions of insertions joined to a word (_split_word)
    foreign: dict[int, str] | None = None  # label words of another language (spelled like names)
    listened: set[int] | None = None  # label words of another language an engine heard in it
    heard: dict[int, tuple[_Heard, ...]] = {}  # label word -> each engine's words for it
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
            word_fed = fed[index] if fed is not None else None
            p_read, p_ix = _word_reading(p, index, start, end, word_fed, lexicon)
            s_read, s_ix = _word_reading(s, index, start, end, word_fed, lexicon) if s is not None else (None, ())
            heard_as_written = p_read.status == "ok" and (s_read is None or s_read.status == "ok")
            if heard_as_written and not is_markup:
                explanation = _PASS  # what ``combine`` says; most words, so said here without it
            else:
                if foreign is None:  # only clips with a word not heard as written need it
                    foreign = foreign_runs(ref.words)
                name = not heard_as_written and (proper_noun(ref.words, index, lexicon) or index in foreign)
                context = WordContext(word_fed, name, thresholds.label_plausible_min)
                explanation = combine(label, p_read, s_read, lexicon, markup=is_markup, context=context)
                if explanation.verdict in COUNTED_VERDICTS and index in foreign:
                    if listened is None:
                        listened = _heard_in_language(ref.words, foreign, (primary, secondary), same_sound)
                    if index in listened:
                        explanation = _HEARD_IN_LANGUAGE
                # a word not heard as written, or a name heard as one word of two ("Ahem!" heard
                # "a" + "hum"): the engines' extra word beside it may be the rest of it
                if explanation.verdict in COUNTED_VERDICTS or explanation.rule == ids.SPELLING_VARIANT_PHONEMES_NEAR:
                    sides = (p, p_read, p_ix), (s, s_read, s_ix)
                    joined = _split_word(label, (start, end), *sides, context, lexicon, split)
                    if joined is not None:
                        explanation, p_ix, s_ix = joined
                    elif explanation.verdict in COUNTED_VERDICTS:
                        sides_heard = ((p_read, p_ix), (s_read, s_ix))  # a reading's words are the tokens it took
                        heard[index] = tuple(
                            tuple(zip(ix, r.heard, strict=False)) for r, ix in sides_heard if r is not None
                        )
                elif explanation.verdict in _ONE_ENGINE_ERRORS and s is not None:
                    if explanation.verdict == Verdict.STT_ERROR:
                        if tokens := _own_split(label, (start, end), (p, p_read, p_ix), context, lexicon, split):
                            p_ix = tokens
                    elif tokens := _own_split(label, (start, end), (s, s_read, s_ix), context, lexicon, split):
                        s_ix = tokens
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
                fed_phonemes=fed[index] if fed is not None else None,
            )
        )

    if fed is not None:
        rows = _boundaries_moved(rows, heard, fed, lexicon)
        rows = _heard_as_said(rows, heard, fed, lexicon)
    insertions = with_forced_repeats(
        _insertions(ref, p, s, set(markup_anchor), split), ref.words, primary, secondary, thresholds.repeat_min_llr
    )
    unexplained = [i for i in insertions if i.verdict == INSERTION]
    summary = summarize(
        [r.verdict for r in rows],
        n_insertions=len(unexplained),
        n_confirmed_insertions=sum(1 for i in unexplained if i.rule in CONFIRMED_INSERTION_RULES),
        primary_wer=p.alignment.wer,
        secondary_wer=s.alignment.wer if s is not None else None,
        confidences=primary.confidences,
        calibrated=primary.calibrated_confidences,
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


def _boundaries_moved(
    rows: list[WordVerdict],
    heard: Mapping[int, tuple[_Heard, ...]],
    fed: Sequence[str],
    lexicon: Lexicon,
) -> list[WordVerdict]:
    """``rows`` with each run of adjacent counted words that every engine heard as the run's fed
    sounds with other word boundaries ("in sight" -> "inside") made ``compound.sounds_as_fed``;
    the longest such run inside each stretch of counted words wins."""
    out = list(rows)
    at = 0
    while at < len(out):
        end = at
        while end < len(out) and out[end].index in heard and (end == at or out[end].index == out[end - 1].index + 1):
            end += 1
        found = _sounding_run(out[at:end], heard, fed, lexicon)
        if found is None:
            at = max(end, at + 1)
            continue
        first, last = at + found[0], at + found[1]
        for k in range(first, last):
            out[k] = replace(out[k], verdict="compound", rule=ids.COMPOUND_SOUNDS_AS_FED)
        at = last
    return out


_WEAK_FORM = Explanation(Verdict.HOMOPHONE.value, ids.HOMOPHONE_WEAK_FORM)
_TD_AT_BOUNDARY = Explanation(Verdict.HOMOPHONE.value, ids.HOMOPHONE_TD_BOUNDARY)
_AS_FED = Explanation(Verdict.HOMOPHONE.value, ids.HOMOPHONE_AS_FED)
_BARE = re.compile(r"[^\w'’]|_")  # what is not part of a written word (quotes, markup underscores)


def _heard_as_said(
    rows: list[WordVerdict],
    heard: Mapping[int, tuple[_Heard, ...]],
    fed: Sequence[str],
    lexicon: Lexicon,
) -> list[WordVerdict]:
    """``rows`` with each counted word that every engine heard as one other word that sounds like
    what Kokoro said, when the label words on either side are not counted (a sound is one word's;
    two neighbours both heard wrong, a swap, "of a" said "a of", stay failures):

    * a word whose every heard word has a pronunciation that is exactly the fed sound ("née" fed
      ``nˈA`` heard "nay", where the label's spelling, accents folded, reads ``ni``):
      ``homophone.as_fed``;
    * a function word heard as another function word whose weak form sounds like it
      (``verdicts.weak_forms``: "an" heard "and", "of" heard "a"): ``homophone.weak_form``;
    * a word heard with a final t or d added or dropped before a consonant
      (``verdicts.connected_speech``: "save the" heard "saved the"): ``homophone.td_boundary``."""
    counted = {r.index for r in rows if r.verdict in COUNTED_VERDICTS}
    out = list(rows)
    for k, row in enumerate(out):
        if row.index not in counted or row.index not in heard or {row.index - 1, row.index + 1} & counted:
            continue
        said = [tuple(t for _, t in engine if t) for engine in heard[row.index]]
        sound = fed[row.index]
        if not sound or not all(len(words) == 1 for words in said):
            continue  # every rule below compares with the fed sound
        words = [w[0] for w in said]
        # each heard word's pronunciations in the fed accent, for the two rules that read them
        forms = [in_fed_accent(sound, lexicon.pronounce((word,))) for word in words]
        following = fed[row.index + 1] if row.index + 1 < len(fed) else None
        if _said_exactly(sound, row.label_word, forms, lexicon):
            out[k] = replace(row, verdict=_AS_FED.verdict, rule=_AS_FED.rule)
        elif weak_forms_collide(row.norm_word, words, sound, lexicon):
            out[k] = replace(row, verdict=_WEAK_FORM.verdict, rule=_WEAK_FORM.rule)
        elif all(td_at_boundary(sound, following, heard_forms) for heard_forms in forms):
            out[k] = replace(row, verdict=_TD_AT_BOUNDARY.verdict, rule=_TD_AT_BOUNDARY.rule)
    return out


def _said_exactly(fed: str, label_word: str, forms: Sequence[set[str]], lexicon: Lexicon) -> bool:
    """The fed sound is a reading of the label word as written (accents kept: "née" is ``nA``,
    its folded "nee" ``ni``; letters fed for "go" are not), and every heard word has a
    pronunciation (``forms``: each word's, in the fed accent) that is that sound, symbol for
    symbol (stress aside): no distance allowed, unlike a homophone the dictionaries list."""
    sound = clean(fed)
    written = _BARE.sub("", label_word).lower()
    if not sound or not written or sound not in {clean(form) for form in lexicon.pronounce((written,))}:
        return False
    return all(sound in {clean(form) for form in heard_forms} for heard_forms in forms)


def _sounding_run(
    run: Sequence[WordVerdict],
    heard: Mapping[int, tuple[_Heard, ...]],
    fed: Sequence[str],
    lexicon: Lexicon,
) -> tuple[int, int] | None:
    """``(start, end)`` in ``run`` of its longest stretch (two to ``_MAX_MOVED_RUN`` words) that
    sounds as fed."""
    for size in range(min(len(run), _MAX_MOVED_RUN), 1, -1):
        for start in range(len(run) - size + 1):
            words = run[start : start + size]
            sounds = [fed[w.index] for w in words]
            if not all(sounds):
                continue
            engines = len(heard[words[0].index])
            # one engine word can stand for two label words ("all ready" heard "already"): once
            per_engine = [
                tuple(t for _, t in dict.fromkeys(pair for w in words for pair in heard[w.index][e] if pair[1]))
                for e in range(engines)
            ]
            if run_sounds_as_fed(per_engine, sounds, lexicon):
                return start, start + size
    return None


def _rightmost(ref: Normalized, engine: EngineReading, ins: InsertedTokens) -> int:
    """The last place the same extra words could sit: a repeat ("out of the way out of the way")
    aligns before the first copy in one engine and after the second in another; both are the same
    insertion. Shifted right while the label token there equals the first inserted token."""
    tokens = [engine.norm.tokens[k] for k in ins.hyp]
    at = ins.position
    while tokens and at < len(ref.tokens) and tokens[0] == ref.tokens[at]:
        tokens = [*tokens[1:], ref.tokens[at]]
        at += 1
    return at


# Decoder loops: a phrase of at most this many tokens said this many times in a row, of which
# at least ``_LOOP_MIN_EXTRA`` copies' worth of tokens are extra words.
_LOOP_MAX_PHRASE = 4
_LOOP_MIN_COPIES = 3
_LOOP_MIN_EXTRA = 2
# The verdict of extra words that are one engine's own mistake, by the engine that made it.
ENGINE_ERROR = {"primary": Verdict.STT_ERROR.value, "secondary": Verdict.SECONDARY_ERROR.value}


def _loops(tokens: Sequence[str]) -> list[tuple[int, int, int]]:
    """``(start, end, size)`` of every stretch of ``tokens`` that repeats a phrase of ``size``
    tokens at least ``_LOOP_MIN_COPIES`` times in a row (a last copy may be cut short)."""
    found = []
    for size in range(1, _LOOP_MAX_PHRASE + 1):
        k = size
        while k < len(tokens):
            if tokens[k] != tokens[k - size]:
                k += 1
                continue
            start = k - size
            while k < len(tokens) and tokens[k] == tokens[k - size]:
                k += 1
            if k - start >= _LOOP_MIN_COPIES * size:
                found.append((start, k, size))
    return found


def _decoder_loop(tokens: Sequence[str], row: Sequence[int], extra: set[int]) -> bool:
    """Whether the extra tokens ``row`` (indices into one engine's ``tokens``; ``extra``: all its
    unexplained extra tokens) lie inside a stretch where that engine repeats a short phrase three
    or more times in a row, at least two copies' worth of it extra words: the repetition loop
    autoregressive recognizers (Whisper) fall into, often cut off mid-phrase and running over
    the label words it replaced. A TTS that repeats itself is heard by both engines; one extra
    copy is never excused."""
    return bool(row) and any(
        all(start <= k < end for k in row) and sum(start <= k < end for k in extra) >= _LOOP_MIN_EXTRA * size
        for start, end, size in _loops(tokens)
    )


def _insertions(
    ref: Normalized, p: EngineReading, s: EngineReading | None, skip: set[int], split: dict[str, set[int]]
) -> tuple[Insertion, ...]:
    """One row per place in the label where an engine heard extra words (but pure markup's and
    the halves of split words, which went with their word)."""
    by_position: dict[int, dict[str, list[InsertedTokens]]] = {}
    extra: dict[str, set[int]] = {}  # role -> every unexplained extra token of that engine
    for role, engine in (("primary", p), ("secondary", s)):
        if engine is None:
            continue
        explained = [ins for ins in engine.insertions if ins.explanation is not None]
        merged: dict[int, tuple[int, ...]] = {}  # unexplained words at one place: one run
        for ins in engine.insertions:
            if ins.explanation is None and ins.position not in split.get(engine.engine, ()):
                merged[ins.position] = merged.get(ins.position, ()) + ins.hyp
        extra[role] = {k for hyp in merged.values() for k in hyp}
        runs = [InsertedTokens(at, tuple(sorted(hyp)), None) for at, hyp in merged.items()]
        for ins in explained + runs:
            if ins.position not in skip:
                at = ins.position if ins.explanation is not None else _rightmost(ref, engine, ins)
                by_position.setdefault(at, {}).setdefault(role, []).append(ins)
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
        elif s is None:
            verdict, rule = INSERTION, ids.INSERTION_SINGLE_ENGINE
        else:
            role = next(iter(unexplained))
            heard_by, row = (p, p_ix) if role == "primary" else (s, s_ix)
            if _decoder_loop(heard_by.norm.tokens, row, extra[role]):
                verdict, rule = ENGINE_ERROR[role], ids.INSERTION_DECODER_LOOP
            else:
                verdict, rule = INSERTION, ids.INSERTION_BY_ENGINE[role]
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
