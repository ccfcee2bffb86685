"""Normalization (label and hypotheses alike) and its map back to label words; number words."""

from __future__ import annotations

import pytest

from verdicts.normalize import normalize, normalize_words
from verdicts.numbers import digits_to_words, roman_value, spoken_values


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Alice was TIRED.", "alice was tired"),
        ("“I won’t!” said Alice.", "i won't said alice"),
        ("its waistcoat-pocket_, and", "its waistcoat pocket and"),
        ("so _very_ remarkable", "so very remarkable"),
        ("dear—I think…", "dear i think"),
        ("Café naïve", "cafe naive"),
        # numbers
        ("in 1865", "in eighteen sixty five"),
        ("in 1905 and 2001", "in nineteen oh five and two thousand one"),
        ("the 42nd and 1st", "the forty second and first"),
        ("1,865 men", "one thousand eight hundred sixty five men"),
        ("105 men", "one hundred five men"),
        ("$5.50 or £1", "five dollars fifty cents or one pound"),
        ("5% at 10:30", "five percent at ten thirty"),
        ("3.5 or .5", "three point five or point five"),
        ("the 1920s and '60s", "the nineteen twenties and sixties"),
        ("60mph", "sixty mph"),
        # abbreviations and titles
        ("Mr. and Mrs. Dodson", "mister and missus dodson"),
        ("Dr. Jones", "doctor jones"),
        ("St. Paul lived on Baker St.", "saint paul lived on baker street"),
        ("No. 5, no.", "number five no"),
        ("bread, butter, &c.", "bread butter et cetera"),
        ("bread & butter etc.", "bread and butter et cetera"),
        ("e.g. this", "for example this"),
        ("the U.S.A.", "the u s a"),
        ("Col. Mustard, not col", "colonel mustard not col"),
        # roman numerals only after CHAPTER, BOOK, PART, ...
        ("CHAPTER IV. The Pool", "chapter four the pool"),
        ("BOOK II", "book two"),
        ("Part XII", "part twelve"),
        ("as I said", "as i said"),
        ("III.", "three"),  # alone: a section heading, read as a number
        ("III. I slept", "iii i slept"),
        # markup is removed (and remembered, see below)
        ("the <i>very</i> end", "the very end"),
        ("the end [1] of &amp; it", "the end of and it"),
    ],
)
def test_normalize(text: str, tokens: str) -> None:
    assert " ".join(normalize(text).tokens) == tokens


def test_label_and_hypothesis_normalize_alike() -> None:
    label = normalize("Mr. Hare’s 42nd birthday—in 1865!")
    heard = normalize_words(["mister", "hare's", "forty-second", "birthday", "in", "eighteen", "sixty-five"])
    assert label.tokens == heard.tokens


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("Mr. Hare's waistcoat-pocket, 1865.", (0, 1, 2, 2, 3, 3, 3)),
        ("The tale — ends.", (0, 1, 3)),
        ("CHAPTER IV.", (0, 1)),
        ("the [1] end", (0, 2)),
    ],
)
def test_tokens_map_back_to_label_words(text: str, source: tuple[int, ...]) -> None:
    n = normalize(text)
    assert n.source == source
    assert n.words == tuple(text.split())


def test_markup_words_are_remembered() -> None:
    n = normalize('the <i>very</i> end [1] <span class="x">of</span> it')
    assert sorted(n.markup) == [1, 3, 4, 5]
    assert n.word_tokens(3) == ()  # "[1]": markup only
    assert n.word_tokens(5) == ("of",)


def _assert_map_back(text: str) -> None:
    n = normalize(text)
    assert len(n.tokens) == len(n.source)
    assert n.words == tuple(text.split())
    assert all(0 <= i < len(n.words) for i in n.source)
    assert list(n.source) == sorted(n.source)  # order is kept
    assert len(n.spans) == len(n.words)
    for i, (start, end) in enumerate(n.spans):
        assert all(n.source[k] == i for k in range(start, end))
    assert [k for start, end in n.spans for k in range(start, end)] == list(range(len(n.tokens)))


def test_map_back_property_on_alice(alice_path) -> None:
    text = alice_path.read_text(encoding="utf-8")
    for paragraph in text.split("\n\n")[:400]:
        _assert_map_back(paragraph)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "— * —", "1865 1,865 $5.50 42nd 10:30 '60s", "<b> [2] &amp; &nbsp; </b>", "a-b-c/d e.g. U.S. i.e."],
)
def test_map_back_property_on_edge_cases(text: str) -> None:
    _assert_map_back(text)


# --------------------------------------------------------------------------------------------
# numbers


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("1865", "eighteen sixty five"),
        ("1900", "nineteen hundred"),
        ("2024", "twenty twenty four"),
        ("2005", "two thousand five"),
        ("12345", "twelve thousand three hundred forty five"),
        ("21st", "twenty first"),
        ("10:00", "ten o'clock"),
        ("abc", None),
    ],
)
def test_digits_to_words(token: str, words: str | None) -> None:
    spoken = digits_to_words(token)
    assert (" ".join(spoken) if spoken is not None else None) == words


@pytest.mark.parametrize(
    ("words", "values"),
    [
        ("eighteen sixty five", {(1865, False)}),
        ("one thousand eight hundred and sixty five", {(1865, False)}),
        ("one thousand eight hundred sixty five", {(1865, False)}),
        ("eighteen hundred and sixty five", {(1865, False)}),
        ("eighteen hundred", {(1800, False)}),
        ("nineteen oh five", {(1905, False)}),
        ("twenty twenty one", {(2021, False)}),
        ("a hundred", {(100, False)}),
        ("forty second", {(42, True)}),
        ("one hundredth", {(100, True)}),
        ("three point zero", {(3, False)}),
        ("point five", {(0.5, False)}),
        ("iii", {(3, False)}),  # engines write roman numerals
        ("mix", set()),  # ... but not with m or d: those are words
        ("twenty", {(20, False)}),
        ("five five", set()),  # not a number reading
        ("sixty twenty", set()),
        ("and", set()),
        ("the cat", set()),
    ],
)
def test_spoken_values(words: str, values: set) -> None:
    assert spoken_values(tuple(words.split())) == values


@pytest.mark.parametrize(
    ("numeral", "value"), [("I", 1), ("iv", 4), ("XII", 12), ("XLII", 42), ("IIII", None), ("", None)]
)
def test_roman_value(numeral: str, value: int | None) -> None:
    assert roman_value(numeral) == value
