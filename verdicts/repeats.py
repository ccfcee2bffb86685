"""Repeated words a recognizer wrote once but heard twice when forced to choose.

Whisper's decoder writes "where it it had been" as "where it had been": one extra short word
does not outweigh its language model. Forced to score the label against the label with a word
(or two) said twice (``Hypothesis.repeats``, a log-likelihood ratio per doubled reading), it
can prefer the doubled one, or nearly. Such a finding (a ratio above ``min_llr``:
``Thresholds.repeat_min_llr``, -2.5 by default) counts like extra words the engine heard at that
place: with the insertion rows the free transcripts gave, each place gets one row, and an
engine that heard extra words there in its free transcript needs no forced finding.

Example::

    heard = Hypothesis("p", "a b c", repeats=(ForcedRepeat(1, 1, 2.0),))
    rows = with_forced_repeats((), ("a", "b", "c"), heard, None)
    rows[0].position, rows[0].primary_word, rows[0].rule   # (2, 'b', 'insertion.repeat_forced')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from verdicts import rule_ids as ids
from verdicts.names import INSERTION
from verdicts.records import ForcedRepeat, Hypothesis, Insertion

ROLES = ("primary", "secondary")


def _found(hypothesis: Hypothesis | None, min_llr: float) -> dict[int, ForcedRepeat] | None:
    """Per place (``ForcedRepeat.position``) the engine's strongest doubled reading it prefers to
    the label by more than ``min_llr``; None when it was not checked."""
    if hypothesis is None or hypothesis.repeats is None:
        return None
    best: dict[int, ForcedRepeat] = {}
    for repeat in hypothesis.repeats:
        if repeat.found(min_llr) and (repeat.position not in best or repeat.llr > best[repeat.position].llr):
            best[repeat.position] = repeat
    return best


def _covers(row: Insertion, repeat: ForcedRepeat) -> bool:
    """An engine's extra words written before the first doubled word, between, or after the last
    are the same place ("it it" aligns its extra copy on either side of the label's "it")."""
    return repeat.first <= row.position <= repeat.position


def _heard_by(row: Insertion, role: str) -> bool:
    return bool(row.primary_word if role == "primary" else row.secondary_word)


def _words(label_words: Sequence[str], repeat: ForcedRepeat) -> str:
    return " ".join(label_words[repeat.first : repeat.last + 1])


def with_forced_repeats(
    rows: Sequence[Insertion],
    label_words: Sequence[str],
    primary: Hypothesis,
    secondary: Hypothesis | None,
    min_llr: float = 0.0,
) -> tuple[Insertion, ...]:
    """``rows`` (the free transcripts' insertion rows) with the engines' forced repeats: a row
    that one engine of two heard (unexplained, or its decoder looping) and the other engine's
    forced reading confirms becomes ``insertion.repeat_forced``; a place no row covers gets a new
    row: ``insertion.repeat_forced`` when every engine that ran found it (one engine alone ran,
    or both found it), ``insertion.repeat_forced_one_engine`` when one of two did. The engine
    word of a forced finding is the label words it heard twice. Rows are numbered again in
    label order."""
    hypotheses = {"primary": primary, "secondary": secondary}
    found = {role: _found(h, min_llr) for role, h in hypotheses.items()}
    if not any(found.values()):
        return tuple(rows)
    out = list(rows)
    new: dict[int, dict[str, ForcedRepeat]] = {}  # place -> role -> its finding
    for role in ROLES:
        for repeat in (found[role] or {}).values():
            covering = [k for k, row in enumerate(out) if _covers(row, repeat)]
            if any(_heard_by(out[k], role) for k in covering):
                continue  # its free transcript wrote the extra words there
            confirmed = next((k for k in covering if out[k].verdict != "filler_word"), None)
            if confirmed is not None:
                word = {f"{role}_word": _words(label_words, repeat)}
                out[confirmed] = replace(out[confirmed], verdict=INSERTION, rule=ids.INSERTION_REPEAT_FORCED, **word)
            else:
                new.setdefault(repeat.position, {})[role] = repeat
    ran = [role for role in ROLES if hypotheses[role] is not None]
    for place, by_role in new.items():
        words = {
            f"{role}_word": (_words(label_words, by_role[role]) if role in by_role else "")
            if hypotheses[role] is not None
            else None
            for role in ROLES
        }
        everyone = all(role in by_role for role in ran)
        rule = ids.INSERTION_REPEAT_FORCED if everyone else ids.INSERTION_REPEAT_FORCED_ONE_ENGINE
        out.append(Insertion(index=0, position=place, verdict=INSERTION, rule=rule, **words))
    out.sort(key=lambda row: row.position)
    return tuple(replace(row, index=-1 - k) for k, row in enumerate(out))
