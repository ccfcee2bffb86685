"""Runs of another language inside an English label (verdicts.languages), on wordfreq's real
word lists, and how the verdicts treat them (judged by what Kokoro was fed, like names, and by
an engine's second listen in that language)."""

from __future__ import annotations

import pytest

from verdicts.classify import judge_words
from verdicts.languages import foreign_runs, heard_in_language, run_stretches, stretch_times
from verdicts.lexicon import Lexicon, default_lexicon
from verdicts.names import COUNTED_VERDICTS
from verdicts.records import Hypothesis, LanguageListen, Word

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


# --- a second listen in the run's language -------------------------------------------------------

LINE = "So she began again: “Où est ma chatte?” which was the first sentence"


def test_run_stretches_group_adjacent_words_of_one_language() -> None:
    assert run_stretches({4: "fr", 5: "fr", 6: "fr", 9: "fr", 10: "de"}) == [(4, 6, "fr"), (9, 9, "fr"), (10, 10, "de")]
    assert run_stretches({}) == []


def _timed(text: str, step: float = 0.5) -> Hypothesis:
    words = text.split()
    return Hypothesis("p", text, tuple(Word(w, i * step, i * step + 0.4) for i, w in enumerate(words)))


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        # the English words around the run were heard as written: the stretch lies between them
        ("So she began again, U-M-A-Shat, which was the first sentence", (1.9, 2.5)),
        # the word before the run misheard: the stretch starts after the last word heard as written
        ("So she began a gain, U-M-A-Shat, which was the first sentence", (1.4, 3.0)),
        # nothing heard after the run: it runs to the end of the clip
        ("So she began again, oh my shat", (1.9, None)),
    ],
)
def test_stretch_times_lie_between_the_words_heard_as_written(heard: str, expected) -> None:
    start, end = stretch_times(LINE, _timed(heard), 4, 7)
    assert (round(start, 2) if start is not None else None, end) == expected


def test_stretch_times_without_word_timings_are_the_whole_clip() -> None:
    assert stretch_times(LINE, Hypothesis("p", "so she began again"), 4, 7) == (None, None)


def _same_in_french(language: str, a: str, b: str) -> bool:
    """A stand-in for espeak-ng's French: words that end in a silent doubled consonant + e."""
    sounds = {"chatte": "ʃat", "chate": "ʃat", "chat": "ʃa"}
    return language == "fr" and a in sounds and sounds.get(a) == sounds.get(b)


@pytest.mark.parametrize(
    ("text", "same_sound", "heard"),
    [
        ("Où est ma chatte ?", None, {4, 5, 6, 7}),
        ("où est ma châte", _same_in_french, {4, 5, 6, 7}),  # accents aside; the same sound
        ("où est ma châte", None, {4, 5, 6}),  # without the language's G2P only letters count
        ("Où est ma chat ?", _same_in_french, {4, 5, 6}),  # "chat" is ʃa, not the fed ʃat
        ("Où est-ce qu'il y a encore ?", _same_in_french, {4, 5}),
        ("", _same_in_french, set()),
    ],
)
def test_heard_in_language(text: str, same_sound, heard: set[int]) -> None:
    assert heard_in_language(LINE.split(), LanguageListen("fr", 4, 7, text), same_sound) == heard


def test_a_run_word_heard_in_its_language_is_the_english_recognizers_mistake(lexicon: Lexicon) -> None:
    """Both English engines write the French as letters; the primary's second listen, in French,
    heard "Où est ma chate": every run word is stt_error.heard_in_language and the clip is kept.
    A listen that heard "chat" leaves "chatte" counted; a listen in another language is ignored."""
    label = "she said “Où est ma chatte?” at once"
    fed = ("ʃi", "sˈɛd", "ˈu", "ˈɛ", "mˈa", "ʃˈat", "æt", "wˈʌns")
    secondary = Hypothesis("s", "she said u m a shat at once")

    def judged(listen: LanguageListen):
        primary = Hypothesis("p", "she said u m i shat at once", listens=(listen,))
        return judge_words(label, primary, secondary, lexicon=lexicon, fed_phonemes=fed, same_sound=_same_in_french)

    result = judged(LanguageListen("fr", 2, 5, "Où est ma chate ?"))
    by_index = {w.index: w for w in result.words}
    heard = {(by_index[i].verdict, by_index[i].rule) for i in (2, 3, 4)}
    assert heard == {("stt_error", "stt_error.heard_in_language")}
    assert by_index[5].rule == "spelling_variant.phonemes_near"  # "shat" is near the fed ʃˈat already
    assert result.summary.keep

    chat = judged(LanguageListen("fr", 2, 5, "Où est ma chat ?"))
    assert [w.rule for w in chat.words if 2 <= w.index <= 4] == ["stt_error.heard_in_language"] * 3
    missed = judged(LanguageListen("fr", 2, 5, "Où est-ce qu'il y a encore ?"))
    assert next(w for w in missed.words if w.index == 4).verdict in COUNTED_VERDICTS
    assert not missed.summary.keep

    german = judged(LanguageListen("de", 2, 5, "Où est ma chatte"))
    assert all(w.rule != "stt_error.heard_in_language" for w in german.words)
