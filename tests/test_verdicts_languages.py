"""Runs of another language inside an English label (verdicts.languages), on wordfreq's real
word lists, and how the verdicts treat them (judged by what Kokoro was fed, like names)."""

from __future__ import annotations

import pytest

from verdicts.classify import judge_words
from verdicts.languages import foreign_runs
from verdicts.lexicon import Lexicon, default_lexicon
from verdicts.records import Hypothesis

# label -> the words found in another language, with it
RUN_CASES = [
    (
        "So she began again: “Où est ma chatte?” which was the first sentence",
        {"“Où": "fr", "est": "fr", "ma": "fr", "chatte?”": "fr"},
    ),
    ("“Mein Gott, du bist hier!” he cried.", {"“Mein": "de", "Gott,": "de", "du": "de", "bist": "de", "hier!”": "de"}),
    ("It is quite de rigueur, my dear.", {"de": "fr", "rigueur,": "fr"}),
    # one foreign-looking word, or one said twice, is no run
    ("He flew to Los Angeles on Monday.", {}),
    ("“Tut, tut, child!” said the Duchess.", {}),
    ("La la la, she sang in the mode of the day.", {}),
    # plain English
    ("Alice was beginning to get very tired of sitting by her sister on the bank", {}),
    ("the est of the ma", {}),
]


@pytest.mark.parametrize(("label", "expected"), RUN_CASES)
def test_foreign_runs(label: str, expected: dict[str, str]) -> None:
    words = label.split()
    assert {words[i]: lang for i, lang in foreign_runs(words).items()} == expected


def test_a_missing_frequency_list_finds_nothing() -> None:
    assert foreign_runs("Où est ma chatte".split(), frequency=lambda word, lang: 0.0) == {}


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return default_lexicon()


def test_foreign_words_are_judged_by_their_fed_phonemes_like_names(lexicon: Lexicon) -> None:
    """An English recognizer writes French as English words that sound like it: where those
    sound near what Kokoro was fed (the French reading), the words are spelling variants; the
    same heard words for an English phrase fed the same way stay failures."""
    label = "she said “Où est ma chatte?” at once"
    fed = ("ʃi", "sˈɛd", "u", "ɛ", "ma", "ʃˈat", "æt", "wˈʌns")
    heard = Hypothesis("p", "she said oo eh ma shat at once")
    result = judge_words(
        label, heard, Hypothesis("s", "she said oo eh ma shat at once"), lexicon=lexicon, fed_phonemes=fed
    )
    chatte = next(w for w in result.words if w.label_word == "chatte?”")
    assert (chatte.verdict, chatte.rule) == ("spelling_variant", "spelling_variant.phonemes_near")
    english = judge_words(
        "she said you eat my cat at once",
        Hypothesis("p", "she said you eat my shat at once"),
        Hypothesis("s", "she said you eat my shat at once"),
        lexicon=lexicon,
        fed_phonemes=("ʃi", "sˈɛd", "ju", "ˈit", "mI", "kˈæt", "æt", "wˈʌns"),
    )
    assert next(w for w in english.words if w.label_word == "cat").verdict == "tts_failure"
