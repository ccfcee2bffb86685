"""Forced repeats in the verdicts (``verdicts.repeats``): a doubled reading an engine prefers
when forced to choose counts like extra words it heard at that place, one row per place.

Label: "nor did Alice think it so very much" (it = word 4; its extra copy comes before word 5).
"""

from __future__ import annotations

import pytest

from verdicts import Hypothesis, judge_words
from verdicts.records import ForcedRepeat

LABEL = "nor did Alice think it so very much"
IT = LABEL.split().index("it")
FOUND = ForcedRepeat(IT, IT, 2.5)
PHRASE = ForcedRepeat(IT - 1, IT, 1.2)  # "think it think it"
NOT_FOUND = ForcedRepeat(IT, IT, -4.0)  # below the default line (-2.5)
NEAR = ForcedRepeat(IT, IT, -1.2)  # the label likelier, but by less than the default line


def _heard(text: str = LABEL, repeats: tuple[ForcedRepeat, ...] | None = ()) -> Hypothesis:
    return Hypothesis("engine", text, repeats=repeats)


@pytest.mark.parametrize(
    ("primary", "secondary", "rows", "reasons"),
    [
        # one engine ran and prefers "it it": confirmed
        (_heard(repeats=(FOUND,)), None, [(IT + 1, "it", None, "insertion.repeat_forced")], ("insertion",)),
        # both engines prefer it
        (
            _heard(repeats=(FOUND, PHRASE)),
            _heard(repeats=(FOUND,)),
            [(IT + 1, "it", "it", "insertion.repeat_forced")],
            ("insertion",),
        ),
        # one of two: like an ambiguous word
        (
            _heard(repeats=(FOUND,)),
            _heard(repeats=(NOT_FOUND,)),
            [(IT + 1, "it", "", "insertion.repeat_forced_one_engine")],
            ("ambiguous_insertion",),
        ),
        # the other engine was not asked (it cannot score a text): still one of two
        (
            _heard(repeats=None),
            _heard(repeats=(PHRASE,)),
            [(IT + 1, "", "think it", "insertion.repeat_forced_one_engine")],
            ("ambiguous_insertion",),
        ),
        # a ratio at or below 0: the label is the likelier reading
        (_heard(repeats=(NOT_FOUND,)), _heard(repeats=(NOT_FOUND,)), [], ()),
        # not asked at all: nothing
        (_heard(repeats=None), _heard(repeats=None), [], ()),
        # the secondary wrote "it it" (one engine of two), the primary, forced, agrees: confirmed
        (
            _heard(repeats=(FOUND,)),
            _heard(LABEL.replace("it", "it it"), repeats=(FOUND,)),
            [(IT + 1, "it", "it", "insertion.repeat_forced")],
            ("insertion",),
        ),
        # the secondary wrote "it it" and the primary, forced, does not agree: the free row stands
        (
            _heard(repeats=(NOT_FOUND,)),
            _heard(LABEL.replace("it", "it it"), repeats=(FOUND,)),
            [(IT + 1, "", "it", "insertion.secondary_only")],
            ("ambiguous_insertion",),
        ),
    ],
)
def test_forced_repeats_count_like_extra_words(primary, secondary, rows, reasons) -> None:
    result = judge_words(LABEL, primary, secondary)
    got = [(i.position, i.primary_word, i.secondary_word, i.rule) for i in result.insertions]
    assert got == rows
    assert [i.index for i in result.insertions] == [-1 - k for k in range(len(rows))]
    assert result.summary.reasons == reasons
    assert result.summary.keep is (not reasons)
    assert all(w.verdict == "pass" for w in result.words)  # the label words themselves were all said


def test_a_forced_repeat_at_another_place_than_a_free_row_gets_its_own_row() -> None:
    """The secondary wrote an extra "cat" at the start; the primary, forced, hears "it it": two
    places, two rows, in label order."""
    result = judge_words(LABEL, _heard(repeats=(FOUND,)), _heard("cat " + LABEL, repeats=()))
    got = [(i.index, i.position, i.rule) for i in result.insertions]
    assert got == [(-1, 0, "insertion.secondary_only"), (-2, IT + 1, "insertion.repeat_forced_one_engine")]


def test_the_ratio_line_is_a_threshold() -> None:
    """``repeat_min_llr`` moves the line: -4 is not a repeat at the default (-2.5), it is at -5;
    -1.2 is one at the default and not at 0; 2.5 is not at 3."""
    from verdicts.keep import Thresholds

    def rows(repeat: ForcedRepeat, line: float | None = None) -> list[str]:
        thresholds = Thresholds() if line is None else Thresholds(repeat_min_llr=line)
        result = judge_words(LABEL, _heard(repeats=(repeat,)), None, thresholds)
        return [i.rule for i in result.insertions]

    assert Thresholds().repeat_min_llr == -2.5
    assert rows(NOT_FOUND) == []
    assert rows(NOT_FOUND, -5.0) == ["insertion.repeat_forced"]
    assert rows(NEAR) == ["insertion.repeat_forced"]
    assert rows(NEAR, 0.0) == []
    assert rows(FOUND, 3.0) == []
