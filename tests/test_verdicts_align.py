"""Word-level Levenshtein alignment and raw WER."""

from __future__ import annotations

import pytest

from verdicts.align import align, word_error_rate


def _kinds(ref: str, hyp: str) -> list[str]:
    return [op.kind for op in align(ref.split(), hyp.split()).ops]


@pytest.mark.parametrize(
    ("ref", "hyp", "kinds", "wer"),
    [
        ("the cat sat", "the cat sat", ["equal"] * 3, 0.0),
        ("the cat sat", "the hat sat", ["equal", "substitute", "equal"], 1 / 3),
        ("the cat sat", "the sat", ["equal", "delete", "equal"], 1 / 3),
        ("the cat sat", "the big cat sat", ["equal", "insert", "equal", "equal"], 1 / 3),
        ("the cat sat", "", ["delete"] * 3, 1.0),
        ("", "a b", ["insert"] * 2, 1.0),
        ("", "", [], 0.0),
        ("a b c d", "x a b c d y", ["insert", "equal", "equal", "equal", "equal", "insert"], 2 / 4),
    ],
)
def test_align(ref: str, hyp: str, kinds: list[str], wer: float) -> None:
    assert _kinds(ref, hyp) == kinds
    assert word_error_rate(ref.split(), hyp.split()) == pytest.approx(wer)


def test_ops_carry_indices_and_positions() -> None:
    a = align("a b c".split(), "a x c d".split())
    assert [(o.kind, o.ref_index, o.hyp_index, o.ref_pos) for o in a.ops] == [
        ("equal", 0, 0, 0),
        ("substitute", 1, 1, 1),
        ("equal", 2, 2, 2),
        ("insert", None, 3, 3),
    ]
    assert (a.substitutions, a.deletions, a.insertions, a.errors) == (1, 0, 1, 2)


def test_every_token_is_covered_once() -> None:
    ref = "alice was beginning to get very tired of sitting by her sister".split()
    hyp = "alice was begin to get so very tired sitting by a sister on".split()
    a = align(ref, hyp)
    assert [o.ref_index for o in a.ops if o.ref_index is not None] == list(range(len(ref)))
    assert [o.hyp_index for o in a.ops if o.hyp_index is not None] == list(range(len(hyp)))
    assert (a.substitutions, a.deletions, a.insertions) == (2, 1, 2)  # begin, a; of; so, on
    assert a.wer == pytest.approx(a.errors / len(ref))
