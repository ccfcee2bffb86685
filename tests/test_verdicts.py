"""The verdict table (SPEC "validate"), case by case.

Each case reads: the label, what the primary engine heard, what the secondary heard (None = it
did not run), and the verdicts expected for some label words as ``(verdict, rule prefix)``.
Every label word a case does not name must pass, so a case also guards against rules firing
where they should not.

The lexicon uses the real CMUdict and misaki dictionaries; the G2P for words no dictionary knows
is a dummy that replays what the real G2P says for those words (``RECORDED_G2P``). The slow test
at the end runs the same table with the real G2P.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field

import pytest

from verdicts import (
    COUNTED_VERDICTS,
    VERDICT_NAMES,
    FileVerdicts,
    Hypothesis,
    Lexicon,
    Thresholds,
    Word,
    judge_words,
)
from verdicts.rule_ids import RULE_IDS
from verdicts.rules import label_typo, osa_distance
from verdicts.variants import variant_rule

# What pipeline.tts.g2p.G2P (misaki + espeak-ng) returns for the table's words that neither
# CMUdict nor misaki's lexicon knows (checked by test_recorded_g2p_matches_real_g2p).
RECORDED_G2P = {
    "teh": "tˈA",
    "recieved": "ɹᵻsˈivd",
    "rabit": "ɹˈæbɪt",
    "sisterwas": "sˈɪstəɹwəz",
    "itwas": "ˈɪtwəz",
    "lacie": "lˈAsi",
    "beroful": "bᵻɹˈOfᵊl",
    "née": "nˈA",
}


def recorded_g2p(word: str) -> str | None:
    return RECORDED_G2P.get(word)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon(phonemize=recorded_g2p)


@dataclass(frozen=True)
class Case:
    reference: str
    primary: str
    secondary: str | None
    expected: dict[str, tuple[str, str]] = field(default_factory=dict)  # label word -> (verdict, rule prefix)


PASS = ("pass", "pass.exact")

CASES: dict[str, list[Case]] = {
    "pass": [
        Case(
            "Alice was beginning to get very tired.",
            "Alice was beginning to get very tired.",
            "alice was beginning to get very tired",
            {"Alice": PASS, "tired.": PASS},
        ),
        Case(
            "In 1865 the war ended.", "In 1865 the war ended.", "in eighteen sixty-five the war ended", {"1865": PASS}
        ),
        Case(
            "Mr. Dodson lived on the 42nd floor.",
            "Mister Dodson lived on the forty-second floor.",
            "Mr Dodson lived on the 42nd floor",
            {"Mr.": PASS, "42nd": PASS},
        ),
        Case(
            "There was nothing so _very_ remarkable in that",
            "There was nothing so very remarkable in that.",
            None,
            {"_very_": PASS},
        ),
        Case(
            "CHAPTER IV. The Rabbit Sends in a Little Bill",
            "Chapter 4. The Rabbit sends in a little bill.",
            "Chapter four, the rabbit sends in a little bill.",
            {"IV.": PASS},
        ),
        Case(
            "“Oh my ears and whiskers, how late it’s getting!”",
            "Oh, my ears and whiskers, how late it's getting!",
            None,
            {"it’s": PASS},
        ),
        Case(
            "took a watch out of its waistcoat-pocket_,",
            "took a watch out of its waistcoat pocket",
            "Took a watch out of its waistcoat-pocket.",
            {"waistcoat-pocket_,": PASS},
        ),
    ],
    "stt_error": [
        Case(
            "she went down the rabbit hole",
            "she went down the rabbit hold",
            "she went down the rabbit hole",
            {"hole": ("stt_error", "stt_error.secondary_exact")},
        ),
        Case(
            "a large mushroom grew near her",
            "a mushroom grew near her",
            "a large mushroom grew near her",
            {"large": ("stt_error", "stt_error.secondary_exact")},
        ),
        Case(
            "I like the colour of it",
            "I like the collar of it",
            "I like the color of it",
            {"colour": ("stt_error", "stt_error.secondary_explained")},
        ),
        Case(
            "The Queen was in a furious passion",
            "The Queen was in a furious fashion",
            "the queen was in a furious passion",
            {"passion": ("stt_error", "stt_error.secondary_exact")},
        ),
    ],
    "secondary_error": [
        Case(
            "the Duchess took her choice",
            "the Duchess took her choice",
            "the duchess took her voice",
            {"choice": ("secondary_error", "secondary_error.primary_exact")},
        ),
        Case(
            "she said it very politely",
            "she said it very politely",
            "she said it politely",
            {"very": ("secondary_error", "secondary_error.primary_exact")},
        ),
        Case(
            "the mouse told a long tale",
            "the mouse told a long tail",
            "the mouse told a long tell",
            {"tale": ("secondary_error", "secondary_error.primary_explained")},
        ),
    ],
    "tts_failure": [
        Case(
            "she found a little golden key",
            "she found a little golden tea",
            "She found a little golden tea.",
            {"key": ("tts_failure", "tts_failure.same_word")},
        ),
        Case(
            "she ate the cake quickly",
            "she ate the cake",
            "she ate the cake",
            {"quickly": ("tts_failure", "tts_failure.both_missing")},
        ),
        Case(
            "the bell rang twice",
            "the tail rang twice",
            "the tale rang twice",
            {"bell": ("tts_failure", "tts_failure.same_sound")},
        ),
        Case(
            "It happened in 1865.",
            "it happened in 1869",
            "It happened in eighteen sixty-nine.",
            {"1865.": ("tts_failure", "tts_failure.same_word")},
        ),
    ],
    "ambiguous": [
        Case(
            "a bat flew past", "a cat flew past", "a hat flew past", {"bat": ("ambiguous", "ambiguous.different_words")}
        ),
        Case(
            "the Hatter shook his head",
            "the shook his head",
            "the hammer shook his head",
            {"Hatter": ("ambiguous", "ambiguous.different_words")},
        ),
        Case(
            "In 1865 it rained",
            "in 1869 it rained",
            "in 1861 it rained",
            {"1865": ("ambiguous", "ambiguous.different_words")},
        ),
    ],
    "unverified": [
        Case("a small golden key", "a small golden tea", None, {"key": ("unverified", "unverified.single_engine")}),
        Case("she ran off quickly", "she ran off", None, {"quickly": ("unverified", "unverified.single_engine")}),
        # A label typo needs both engines to agree; one engine alone proves nothing.
        Case("teh cat sat down", "the cat sat down", None, {"teh": ("unverified", "unverified.single_engine")}),
    ],
    "homophone": [
        Case(
            "the mouse told a long tale",
            "the mouse told a long tail",
            "the mouse told a long tale",
            {"tale": ("homophone", "homophone.cmudict")},
        ),
        Case(
            "the knight rode away",
            "the night rode away",
            "the night rode away",
            {"knight": ("homophone", "homophone.cmudict")},
        ),
        Case(
            "I scream at night",
            "ice cream at night",
            None,
            {"I": ("homophone", "homophone.cmudict"), "scream": ("homophone", "homophone.cmudict")},
        ),
        # "awl" is not in CMUdict: both sides are compared in misaki's phonemes instead.
        Case("the cobbler lost his awl", "the cobbler lost his all", None, {"awl": ("homophone", "homophone.g2p")}),
        # A name no dictionary knows: the G2P says it sounds like "Lacy".
        Case("Elsie, Lacie, and Tillie", "Elsie, Lacy and Tillie", None, {"Lacie,": ("homophone", "homophone.g2p")}),
    ],
    "compound": [
        Case(
            "the book shelves were full",
            "the bookshelves were full",
            "the bookshelves were full",
            {"book": ("compound", "compound.merged"), "shelves": ("compound", "compound.merged")},
        ),
        Case(
            "he sat on the bookshelf", "he sat on the book shelf", None, {"bookshelf": ("compound", "compound.split")}
        ),
        Case(
            "to-day it was different",
            "today it was different",
            "Today it was different.",
            {"to-day": ("compound", "compound.merged")},
        ),
        Case(
            "he never sat there any more",
            "he never sat there anymore",
            None,
            {"any": ("compound", "compound.merged"), "more": ("compound", "compound.merged")},
        ),
        Case(
            "the newspaperman came", "the news paper man came", None, {"newspaperman": ("compound", "compound.split")}
        ),
    ],
    "spelling_variant": [
        Case(
            "what a lovely colour",
            "what a lovely color",
            "what a lovely colour",
            {"colour": ("spelling_variant", "spelling_variant.our_or")},
        ),
        Case(
            "she realised it at once",
            "she realized it at once",
            "she realized it at once",
            {"realised": ("spelling_variant", "spelling_variant.ise_ize")},
        ),
        Case(
            "in the centre of the hall",
            "in the center of the hall",
            None,
            {"centre": ("spelling_variant", "spelling_variant.re_er")},
        ),
        Case(
            "they travelled far",
            "they traveled far",
            None,
            {"travelled": ("spelling_variant", "spelling_variant.ll_l")},
        ),
        Case("a grey cat", "a gray cat", "a gray cat", {"grey": ("spelling_variant", "spelling_variant.list")}),
        Case(
            "analyse the data", "analyze the data", None, {"analyse": ("spelling_variant", "spelling_variant.yse_yze")}
        ),
        Case("in his defence", "in his defense", None, {"defence": ("spelling_variant", "spelling_variant.ence_ense")}),
        Case(
            "she would shew you",
            "she would show you",
            "she would show you",
            {"shew": ("spelling_variant", "spelling_variant.list")},
        ),
        # a contraction written out, or words written as their contraction
        Case(
            "“I’ve got it,” she said.",
            "I have got it, she said.",
            "i have got it she said",
            {"“I’ve": ("spelling_variant", "spelling_variant.contraction")},
        ),
        Case(
            "I do not know",
            "I don't know",
            None,
            {
                "do": ("spelling_variant", "spelling_variant.contraction"),
                "not": ("spelling_variant", "spelling_variant.contraction"),
            },
        ),
        Case("it's late", "it is late", "it is late", {"it's": ("spelling_variant", "spelling_variant.contraction")}),
        Case("I have got it", "I had got it", "I had got it", {"have": ("tts_failure", "tts_failure")}),
        # informal forms written as said; recognizers write the standard form
        Case("tie ’em up", "tie them up", "tie them up", {"’em": ("spelling_variant", "spelling_variant.list")}),
        Case("I'll tell yer what", "I'll tell your what", None, {"yer": ("spelling_variant", "spelling_variant.list")}),
        Case(
            "wait till dawn",
            "wait until dawn",
            "wait until dawn",
            {"till": ("spelling_variant", "spelling_variant.list")},
        ),
    ],
    "filler_word": [
        Case("um I think so", "I think so", "I think so", {"um": ("filler_word", "filler_word.omitted")}),
        Case("uh I don't know", "um I don't know", None, {"uh": ("filler_word", "filler_word.substituted")}),
        Case(
            "well, hmm, let me see",
            "well let me see",
            "well, hmm, let me see",
            {"hmm,": ("filler_word", "filler_word.omitted")},
        ),
        Case("er, what was it", "what was it", None, {"er,": ("filler_word", "filler_word.omitted")}),
    ],
    "abbreviation": [
        Case(
            "going 60 mph",
            "going sixty miles per hour",
            "going 60 mph",
            {"mph": ("abbreviation", "abbreviation.expansion")},
        ),
        Case(
            "In 1865 he wrote",
            "In one thousand eight hundred and sixty five he wrote",
            None,
            {"1865": ("abbreviation", "abbreviation.number")},
        ),
        Case(
            "in eighteen hundred and sixty-five",
            "in 1865",
            None,
            {w: ("abbreviation", "abbreviation.number") for w in ("eighteen", "hundred", "and", "sixty-five")},
        ),
        Case(
            "she lived on Elm Dr. in town",
            "she lived on Elm Drive in town",
            None,
            {"Dr.": ("abbreviation", "abbreviation.expansion")},
        ),
        Case("the B.B.C. said so", "the BBC said so", None, {"B.B.C.": ("abbreviation", "abbreviation.letters")}),
        # Seen with Whisper base / tiny.en on Kokoro audio of alice.txt:
        Case(
            "THE MILLENNIUM FULCRUM EDITION 3.0",
            "the Millennium Fulcrum Edition III.",
            "the Millennium Fulcrum Edition 3.",
            {"3.0": ("abbreviation", "abbreviation.number")},
        ),
        Case(
            "walk 5 km north",
            "walk five kilometres north",
            "walk five kilometers north",
            {"km": ("abbreviation", "abbreviation.expansion")},
        ),
    ],
    "gt_typo": [
        Case("teh cat sat down", "the cat sat down", "the cat sat down", {"teh": ("gt_typo", "gt_typo.edit_distance")}),
        Case(
            "she recieved a letter",
            "she received a letter",
            "She received a letter.",
            {"recieved": ("gt_typo", "gt_typo.edit_distance")},
        ),
        Case(
            "the white rabit ran",
            "the white rabbit ran",
            "the White Rabbit ran",
            {"rabit": ("gt_typo", "gt_typo.edit_distance")},
        ),
    ],
    "gt_error": [
        Case(
            "her sisterwas reading a book",
            "her sister was reading a book",
            "her sister was reading a book",
            {"sisterwas": ("gt_error", "gt_error.missing_space")},
        ),
        Case(
            "it was the <i>very</i> end",
            "it was the very end",
            "it was the very end",
            {"<i>very</i>": ("gt_error", "gt_error.markup")},
        ),
        Case(
            "the end [1] of the story",
            "the end one of the story",
            "the end of the story",
            {"[1]": ("gt_error", "gt_error.markup")},
        ),
        Case("itwas a dark night", "it was a dark night", None, {"itwas": ("gt_error", "gt_error.missing_space")}),
    ],
}
TABLE = [(name, i, case) for name, cases in CASES.items() for i, case in enumerate(cases)]


def _judge(case: Case, lexicon: Lexicon) -> FileVerdicts:
    secondary = Hypothesis("secondary", case.secondary) if case.secondary is not None else None
    return judge_words(case.reference, Hypothesis("primary", case.primary), secondary, lexicon=lexicon)


def _check(case: Case, result: FileVerdicts) -> None:
    rows = result.by_label()
    for word, (verdict, rule) in case.expected.items():
        assert word in rows, f"{word!r} is not a label word of {case.reference!r}"
        row = rows[word]
        assert (row.verdict, row.rule[: len(rule)]) == (verdict, rule), row
    for row in result.words:
        if row.label_word not in case.expected:
            assert row.verdict == "pass", row
    for row in (*result.words, *result.insertions):
        assert row.rule in RULE_IDS and row.rule.split(".")[0] == row.verdict, row


def test_table_covers_every_verdict() -> None:
    assert set(CASES) == set(VERDICT_NAMES)
    for name, cases in CASES.items():
        assert len(cases) >= 3, name
        assert any(v == name for c in cases for v, _ in c.expected.values()), name


@pytest.mark.parametrize(("verdict", "n", "case"), TABLE, ids=[f"{name}-{i}" for name, i, _ in TABLE])
def test_verdict_table(verdict: str, n: int, case: Case, lexicon: Lexicon) -> None:
    _check(case, _judge(case, lexicon))


@pytest.mark.slow
def test_verdict_table_with_real_g2p(g2p) -> None:
    def real(word: str) -> str | None:
        return g2p.phonemize(word).phonemes or None

    lexicon = Lexicon(phonemize=real)
    for _, _, case in TABLE:
        _check(case, _judge(case, lexicon))


@pytest.mark.slow
def test_recorded_g2p_matches_real_g2p(g2p) -> None:
    assert {w: g2p.phonemize(w).phonemes for w in RECORDED_G2P} == RECORDED_G2P


# --------------------------------------------------------------------------------------------
# insertions


@pytest.mark.parametrize(
    ("reference", "primary", "secondary", "expected"),
    [
        # (position = index of the label word the extra words come before)
        ("I think so", "uh I think so", None, [(0, "uh", None, "filler_word", "filler_word.inserted")]),
        ("I think so", "I think, um, so", "I think hmm so", [(2, "um", "hmm", "filler_word", "filler_word.inserted")]),
        (
            "the cat sat",
            "the cat sat down",
            "the cat sat down",
            [(3, "down", "down", "insertion", "insertion.both_engines")],
        ),
        ("the cat sat", "the big cat sat", "the cat sat", [(1, "big", "", "insertion", "insertion.primary_only")]),
        ("the cat sat", "the cat sat", "the cat sat here", [(3, "", "here", "insertion", "insertion.secondary_only")]),
        ("the end [1] of it", "the end one of it", None, []),  # the TTS reading the markup goes with "[1]"
        # one engine looping on a phrase (three or more copies in a row, the label's included):
        # that engine's mistake; both engines hearing it, a single repeat, or a lone engine: not
        (
            "she looked at the location",
            "she looked at the location",
            "she looked at the location the location the location",
            [(5, "", "the location the location", "secondary_error", "insertion.decoder_loop")],
        ),
        (
            "thank you",
            "thank you you you you",
            "thank you",
            [(2, "you you you", "", "stt_error", "insertion.decoder_loop")],
        ),
        (
            "he went home",
            "he went home",
            "he went home and then and then and then",
            [(3, "", "and then and then and then", "secondary_error", "insertion.decoder_loop")],
        ),
        (
            "she looked at the location",
            "she looked at the location",
            "she looked at the location the location",
            [(5, "", "the location", "insertion", "insertion.secondary_only")],
        ),
        (
            "she looked at the location",
            "she looked at the location the location the location",
            "she looked at the location the location the location",
            [(5, "the location the location", "the location the location", "insertion", "insertion.both_engines")],
        ),
        (
            "he went home",
            "he went home and then and then and then",
            None,
            [(3, "and then and then and then", None, "insertion", "insertion.single_engine")],
        ),
        (
            "he went home",
            "he went home",
            "he went home and then and then and now",
            [(3, "", "and then and then and now", "insertion", "insertion.secondary_only")],
        ),
        (  # the label's own repeat, one engine hearing one copy more: not a loop
            "down, down, down, would the fall never end",
            "down down down would the fall never end",
            "down down down down would the fall never end",
            [(3, "", "down", "insertion", "insertion.secondary_only")],
        ),
    ],
)
def test_insertions(reference, primary, secondary, expected, lexicon: Lexicon) -> None:
    result = judge_words(
        reference,
        Hypothesis("primary", primary),
        Hypothesis("secondary", secondary) if secondary is not None else None,
        lexicon=lexicon,
    )
    got = [(i.position, i.primary_word, i.secondary_word, i.verdict, i.rule) for i in result.insertions]
    assert got == expected
    assert [i.index for i in result.insertions] == [-1 - k for k in range(len(expected))]
    assert result.summary.n_insertions == sum(1 for e in expected if e[3] == "insertion")
    assert all(row.verdict == "pass" for row in result.words if not row.label_word.startswith("["))


def test_a_decoder_loop_over_label_words_is_the_engine_s_mistake(lexicon: Lexicon) -> None:
    """Whisper looping on a phrase over the end of a clip, cut off mid-phrase: the label words
    it drowned are that engine's mistakes and every extra word is part of the loop, so the clip
    is kept when the other engine heard the label."""
    label = "of arithmetic ambition distraction uglification and derision"
    looping = "of arithmetic ambition distraction and the location and the location and the location and the"
    result = judge_words(label, Hypothesis("primary", looping), Hypothesis("secondary", label), lexicon=lexicon)
    assert result.insertions and all(i.rule == "insertion.decoder_loop" for i in result.insertions)
    assert {i.verdict for i in result.insertions} == {"stt_error"}
    assert result.summary.n_insertions == 0 and result.summary.keep is True


# --------------------------------------------------------------------------------------------
# joint rules in isolation


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("teh", "the", 1), ("rabit", "rabbit", 1), ("recieved", "received", 1), ("cat", "dog", 3), ("", "ab", 2)],
)
def test_osa_distance(a: str, b: str, distance: int) -> None:
    assert osa_distance(a, b) == distance


@pytest.mark.parametrize(
    ("label", "heard", "typo"),
    [
        ("teh", "the", True),
        ("beleive", "believe", True),
        ("cat", "cot", False),  # "cat" is a word: not a typo, a mishearing
        ("teh", "tea", True),
        ("xqzv", "quiz", False),  # too far
        ("thr", "three", False),  # 2 edits on a short word
    ],
)
def test_label_typo(label: str, heard: str, typo: bool, lexicon: Lexicon) -> None:
    assert (label_typo((label,), (heard,), lexicon) is not None) is typo


@pytest.mark.parametrize(
    ("a", "b", "rule"),
    [
        ("colour", "color", "our_or"),
        ("honours", "honors", "our_or"),
        ("organisation", "organization", "ise_ize"),
        ("paralysed", "paralyzed", "yse_yze"),
        ("theatres", "theaters", "re_er"),
        ("labelled", "labeled", "ll_l"),
        ("catalogue", "catalog", "ogue_og"),
        ("anaemia", "anemia", "ae_e"),
        ("judgement", "judgment", "dgement"),
        ("alright", "all right", "list"),
        ("four", "for", None),  # -our/-or needs a real stem
        ("filled", "filed", None),  # the base is "fill", not "fil"
        ("hour", "hor", None),
        ("acre", "acer", None),
        ("centre", "centre", None),
    ],
)
def test_variant_rule(a: str, b: str, rule: str | None, lexicon: Lexicon) -> None:
    assert variant_rule(a, b, lexicon.is_word, lexicon.is_listed) == rule
    assert variant_rule(b, a, lexicon.is_word, lexicon.is_listed) == rule


@pytest.mark.parametrize(
    ("a", "b", "how"),
    [
        (("tale",), ("tail",), "cmudict"),
        (("their",), ("there",), "cmudict"),
        (("ice", "cream"), ("i", "scream"), "cmudict"),
        (("knight",), ("night",), "cmudict"),
        (("awl",), ("all",), "g2p"),
        (("cat",), ("hat",), None),
        (("tale",), ("tale",), None),  # identical is not a sound-alike
    ],
)
def test_sounds_alike(a, b, how, lexicon: Lexicon) -> None:
    assert lexicon.sounds_alike(a, b) == how


# --------------------------------------------------------------------------------------------
# rows: indices, timings, confidences; the summary arithmetic


def test_rows_point_at_label_words_and_carry_timings(lexicon: Lexicon) -> None:
    words = [Word("the", 0.0, 0.2, 0.99), Word("tail", 0.2, 0.5, 0.80), Word("ends", 0.5, 0.9, 0.97)]
    result = judge_words("The tale — ends.", Hypothesis("parakeet", "the tail ends", words), None, lexicon=lexicon)
    # "—" is punctuation only: no row, but the indices still count it.
    assert [(r.index, r.label_word, r.norm_word, r.primary_word) for r in result.words] == [
        (0, "The", "the", "the"),
        (1, "tale", "tale", "tail"),
        (3, "ends.", "ends", "ends"),
    ]
    tale = result.words[1]
    assert (tale.verdict, tale.rule, tale.start_s, tale.end_s, tale.confidence) == (
        "homophone",
        "homophone.cmudict",
        0.2,
        0.5,
        0.80,
    )
    assert result.words[0].secondary_word is None
    assert result.summary.conf_mean == pytest.approx((0.99 + 0.80 + 0.97) / 3)
    assert result.summary.conf_min == pytest.approx(0.80)


def test_engine_word_pieces_are_rejoined(lexicon: Lexicon) -> None:
    """faster-whisper splits "4,000" into "4" + ",000" and "ma'am" into "ma" + "'am" (text
    stripped); read piece by piece, ",000" would be "zero"."""
    text = "Please, ma'am, that would be 4,000 miles."
    pieces = ["Please,", "ma", "'am,", "that", "would", "be", "4", ",000", "miles."]
    words = [Word(w, i * 0.5, i * 0.5 + 0.4, 0.9) for i, w in enumerate(pieces)]
    label = "Please, Ma’am, that would be four thousand miles."
    for heard in (text, ""):  # found in the transcript text, or glued back without it
        result = judge_words(label, Hypothesis("whisper", heard, words), None, lexicon=lexicon)
        rows = result.by_label()
        assert all(r.verdict == "pass" for r in result.words), result.words
        assert (rows["Ma’am,"].start_s, rows["Ma’am,"].end_s) == (0.5, 1.4)
        assert (rows["four"].start_s, rows["thousand"].end_s) == (3.0, 3.9)


def test_recognizer_noise_tags_are_not_words(lexicon: Lexicon) -> None:
    result = judge_words("the cat sat", Hypothesis("p", "[MUSIC] the cat sat [BLANK_AUDIO]"), None, lexicon=lexicon)
    assert result.summary.primary_wer == 0.0 and result.insertions == ()


def test_number_word_timing_spans_all_engine_words(lexicon: Lexicon) -> None:
    words = [Word("In", 0.0, 0.1, 0.9), Word("eighteen", 0.1, 0.5, 0.95), Word("sixty-five", 0.5, 1.0, 0.9)]
    result = judge_words("In 1865", Hypothesis("p", "In eighteen sixty-five", words), None, lexicon=lexicon)
    row = result.by_label()["1865"]
    assert (row.verdict, row.norm_word, row.primary_word) == ("pass", "eighteen sixty five", "eighteen sixty five")
    assert (row.start_s, row.end_s, row.confidence) == (0.1, 1.0, 0.9)


def test_summary_arithmetic(lexicon: Lexicon) -> None:
    # 10 label words: 1 tts_failure (key), 1 ambiguous (bat), 1 stt_error (hole), 1 homophone (tale).
    reference = "a bat saw the golden key by the tale hole"
    primary = "a cat saw the golden tea by the tail hold"
    secondary = "a hat saw the golden tea by the tale hole and"
    result = judge_words(reference, Hypothesis("p", primary), Hypothesis("s", secondary), lexicon=lexicon)
    s = result.summary
    assert s.n_words == 10
    assert {k: v for k, v in s.counts.items() if v} == {
        "pass": 6,
        "tts_failure": 1,
        "ambiguous": 1,
        "stt_error": 1,
        "homophone": 1,
    }
    assert set(s.counts) == set(VERDICT_NAMES)
    assert s.primary_wer == pytest.approx(4 / 10)  # bat, key, tale, hole substituted
    assert s.secondary_wer == pytest.approx(3 / 10)  # bat, key substituted; "and" inserted
    # tts_failure + ambiguous + the "and" only the secondary heard (counts like ambiguous)
    assert s.adjusted_wer == pytest.approx(3 / 10)
    assert s.adjusted_wer == pytest.approx((sum(s.counts[v] for v in COUNTED_VERDICTS) + s.n_insertions) / s.n_words)
    assert s.n_insertions == 1 and s.n_confirmed_insertions == 0
    assert s.tier == "reject"
    assert s.keep is False
    assert s.reasons == ("tts_failure", "ambiguous", "ambiguous_insertion")
    assert s.escalate is True and "WER" in s.escalate_reason


def test_keep_and_tier_on_a_clean_clip(lexicon: Lexicon) -> None:
    words = [Word(w, None, None, 0.99) for w in "the cat sat".split()]
    hyp = Hypothesis("p", "the cat sat", words)
    result = judge_words("The cat sat.", hyp, None, lexicon=lexicon)
    assert (result.summary.tier, result.summary.keep, result.summary.escalate) == ("strict", True, False)
    assert result.summary.escalate_reason is None
    strict_mos = Thresholds(keep_min_mos=3.5)
    assert judge_words("The cat sat.", hyp, None, strict_mos, mos=3.4, lexicon=lexicon).summary.keep is False
    assert judge_words("The cat sat.", hyp, None, strict_mos, mos=3.5, lexicon=lexicon).summary.keep is True
    assert judge_words("The cat sat.", hyp, None, strict_mos, mos=None, lexicon=lexicon).summary.keep is True


def test_unverified_blocks_keep(lexicon: Lexicon) -> None:
    result = judge_words("a small golden key", Hypothesis("p", "a small golden tea"), None, lexicon=lexicon)
    assert result.summary.counts["unverified"] == 1
    assert result.summary.adjusted_wer == pytest.approx(0.25)
    assert result.summary.keep is False
    assert (result.summary.reasons, result.summary.tier) == (("unverified",), "reject")


# label, what each engine heard, each engine's forced probability of the changed label word
# (None: the engine scored nothing), expected (verdict, rule) of that word.
LABEL_PLAUSIBLE_CASES = [
    # both engines heard "finally"; forced to read "finely" both still find it likely: their mistake
    (
        "she spoke finely",
        "she spoke finally",
        0.31,
        "she spoke finally",
        0.22,
        ("stt_error", "stt_error.label_plausible"),
    ),
    # the audio says another word: forced, the label word is improbable for both
    (
        "she spoke finely",
        "she spoke sharply",
        0.002,
        "she spoke sharply",
        0.0,
        ("tts_failure", "tts_failure.same_word"),
    ),
    # one engine finds it plausible, the other does not: the audio does not clearly support it
    (
        "she spoke finely",
        "she spoke finally",
        0.40,
        "she spoke finally",
        0.03,
        ("tts_failure", "tts_failure.same_word"),
    ),
    # forced, a word said elsewhere in the clip can look plausible: heard far from the fed phonemes, it stays a failure
    ("she spoke finely", "she spoke gladly", 0.90, "she spoke gladly", 0.85, ("tts_failure", "tts_failure.same_word")),
    # an engine that scored nothing gives no evidence
    (
        "she spoke finely",
        "she spoke finally",
        0.40,
        "she spoke finally",
        None,
        ("tts_failure", "tts_failure.same_word"),
    ),
    # nothing heard there: a missing word, whatever the forced reading says
    ("she spoke finely", "she spoke", 0.90, "she spoke", 0.90, ("tts_failure", "tts_failure.both_missing")),
    # one engine only: plausible -> its mistake; improbable -> unverified
    ("she spoke finely", "she spoke finally", 0.31, None, None, ("stt_error", "stt_error.label_plausible")),
    ("she spoke finely", "she spoke finally", 0.01, None, None, ("unverified", "unverified.single_engine")),
]


@pytest.mark.parametrize(("label", "p_text", "p_prob", "s_text", "s_prob", "expected"), LABEL_PLAUSIBLE_CASES)
def test_label_plausible_rule(label, p_text, p_prob, s_text, s_prob, expected, lexicon: Lexicon) -> None:
    def probs(prob):
        return (0.99, 0.98, prob)

    primary = Hypothesis("p", p_text, label_probs=probs(p_prob))
    secondary = Hypothesis("s", s_text, label_probs=probs(s_prob)) if s_text is not None else None
    fed = ("ʃˈi", "spˈOk", "fˈInli")  # what Kokoro was fed for "she spoke finely"
    result = judge_words(label, primary, secondary, lexicon=lexicon, fed_phonemes=fed)
    word = result.words[2]
    assert (word.verdict, word.rule) == expected
    assert result.summary.keep is (expected[0] == "stt_error")
    # the rule is a threshold setting: off, the word is judged as before
    off = judge_words(
        label, primary, secondary, Thresholds(label_plausible_min=None), lexicon=lexicon, fed_phonemes=fed
    )
    assert off.words[2].rule != "stt_error.label_plausible"


def test_a_word_an_engine_split_in_two_takes_its_other_half(lexicon: Lexicon) -> None:
    """ "barrowful" written "bear o full" by one engine: "bear o" would be extra words and "full"
    far from the fed phonemes; joined they are near, so the word is the engine's mistake and no
    insertion row is left. A truly extra word beside a misheard word stays an insertion."""
    label, fed = "a barrowful of", ("ɐ", "bˈæɹOfᵊl", "ʌv")
    primary = Hypothesis("p", "a bear o full of", label_probs=(0.99, 0.59, 0.98))
    secondary = Hypothesis("s", "a beroful of", label_probs=(0.99, 0.40, 0.97))
    result = judge_words(label, primary, secondary, lexicon=lexicon, fed_phonemes=fed)
    word = result.words[1]
    assert (word.verdict, word.rule, word.primary_word) == ("stt_error", "stt_error.label_plausible", "bear o full")
    assert result.insertions == () and result.summary.keep is True
    far = Hypothesis("p", "a cat full of", label_probs=(0.99, 0.59, 0.98))
    result = judge_words(label, far, secondary, lexicon=lexicon, fed_phonemes=fed)
    assert result.words[1].verdict in COUNTED_VERDICTS
    assert [i.primary_word for i in result.insertions] == ["cat"] and result.summary.keep is False


IN_SIGHT_FED = ("ʃˌi", "kˈAm", "ɪn", "sˈIt", "ʌv", "ɪt")  # "she came in sight of it"
# label, the phonemes Kokoro was fed, primary, secondary, label word -> verdict.rule (others pass)
WORD_BOUNDARY_CASES = [
    # every engine heard the fed sounds of adjacent words with other boundaries
    (
        "she came in sight of it",
        IN_SIGHT_FED,
        "she came inside of it",
        "she came inside of it",
        {"in": "compound.sounds_as_fed", "sight": "compound.sounds_as_fed"},
    ),
    (
        "tie ’em up",
        ("tˈI", "əm", "ˈʌp"),
        "time up",
        "time up",
        {"tie": "compound.sounds_as_fed", "’em": "compound.sounds_as_fed"},
    ),
    (
        "he got in late",
        ("hi", "ɡɑt", "ˈɪn", "lˈAt"),
        "he gotten late",
        None,
        {"got": "compound.sounds_as_fed", "in": "compound.sounds_as_fed"},
    ),
    # one engine word for two label words: counted once ("all ready" heard "already")
    (
        "are you all ready?",
        ("ɑɹ", "ju", "ˈɔl", "ɹˈɛdi?"),
        "are you already?",
        "are you already",
        {"all": "compound.sounds_as_fed", "ready?": "compound.sounds_as_fed"},
    ),
    # one label word heard as two whose sounds, joined, are the fed ones (no dictionary lists
    # "of ended" as a reading of "offended")
    (
        "she was offended then",
        ("ʃi", "wʌz", "əfˈɛndᵻd", "ðˈɛn"),
        "she was of ended then",
        "she was of ended then",
        {"offended": "compound.sounds_as_fed"},
    ),
    (
        "she was offended then",
        ("ʃi", "wʌz", "əfˈɛndᵻd", "ðˈɛn"),
        "she was of ended then",
        None,
        {"offended": "compound.sounds_as_fed"},
    ),
    # ... but not when the words add sounds Kokoro was not fed
    (
        "she was offended then",
        ("ʃi", "wʌz", "əfˈɛndᵻd", "ðˈɛn"),
        "she was of mended then",
        "she was of mended then",
        {"offended": "tts_failure"},
    ),
    # one engine heard other sounds there: still a failure
    (
        "she came in sight of it",
        IN_SIGHT_FED,
        "she came inside of it",
        "she came and slight of it",
        {"in": "ambiguous", "sight": "ambiguous"},
    ),
    # swapped words and a dropped word are not moved boundaries
    (
        "the cat sat down",
        ("ðə", "kˈæt", "sˈæt", "dˌWn"),
        "the sat cat down",
        "the sat cat down",
        {"cat": "tts_failure", "sat": "tts_failure"},
    ),
    ("a cat sat", ("ɐ", "kˈæt", "sˈæt"), "cat sat", "cat sat", {"a": "tts_failure"}),
]


# label, the phonemes Kokoro was fed (None: unknown), primary, secondary, label word -> rule
WEAK_FORM_CASES = [
    # a function word heard as another whose weak form sounds like it
    (
        "he was an antagonist",
        ("hi", "wʌz", "ən", "æntˈæɡənɪst"),
        "he was and antagonist",
        "he was and antagonist",
        {"an": "homophone.weak_form"},
    ),
    ("a cup of tea", ("ɐ", "kˈʌp", "ʌv", "tˈi"), "a cup a tea", "a cup a tea", {"of": "homophone.weak_form"}),
    ("would have gone", ("wʊd", "hæv", "ɡˈɔn"), "would of gone", None, {"have": "homophone.weak_form"}),
    # two engines, two other function words, each sounding like it
    (
        "he was an antagonist",
        ("hi", "wʌz", "ən", "æntˈæɡənɪst"),
        "he was and antagonist",
        "he was in antagonist",
        {"an": "homophone.weak_form"},
    ),
    # no weak form of "you" sounds like "he"
    ("he said so", ("hi", "sˈɛd", "sˈO"), "you said so", "you said so", {"he": "tts_failure"}),
    # a content word heard as a function word is no reduction
    (
        "the bank was shut",
        ("ðə", "bˈæŋk", "wʌz", "ʃˈʌt"),
        "the and was shut",
        "the and was shut",
        {"bank": "tts_failure"},
    ),
    # two neighbours both heard wrong: a swap, not a reduction
    (
        "one of a kind",
        ("wˈʌn", "ʌv", "ɐ", "kˈInd"),
        "one a of kind",
        "one a of kind",
        {"of": "tts_failure", "a": "tts_failure"},
    ),
    # Kokoro was fed letters for "an": what it said is not the word's sound
    (
        "he was an antagonist",
        ("hi", "wʌz", "ˈAˈɛn", "æntˈæɡənɪst"),
        "he was and antagonist",
        "he was and antagonist",
        {"an": "tts_failure"},
    ),
    # without the fed phonemes nothing is known about what was said
    ("he was an antagonist", None, "he was and antagonist", "he was and antagonist", {"an": "tts_failure"}),
]

# heard as a word whose pronunciation is exactly the fed sound
AS_FED_CASES = [
    # "née" folds to "nee" (ni); Kokoro was fed nˈA, and "nay" is nA
    (
        "Irene Norton, née Adler",
        ("ˈIɹiːn", "nˈɔːtən,", "nˈA", "ˈadlə"),
        "Irene Norton, nay Adler",
        "Irene Norton, nay Adler",
        {"née": "homophone.as_fed"},
    ),
    # "lead" fed as the verb: "led" is another sound
    ("they lead the way", ("ðA", "lˈid", "ðə", "wˈA"), "they led the way", "they led the way", {"lead": "tts_failure"}),
]

# a final t or d at a word boundary, where running speech hides it
TD_BOUNDARY_CASES = [
    # a d heard after a consonant, before a consonant: "save the" / "saved the"
    (
        "not a soul there save the two",
        ("nˈɑt", "ɐ", "sˈOl", "ðˈɛɹ", "sˈAv", "ðə", "tˈu"),
        "not a soul there saved the two",
        "not a soul there saved the two",
        {"save": "homophone.td_boundary"},
    ),
    # a t dropped from a cluster before a consonant: "walked to" / "walk to", one engine wrong
    (
        "they walked to town",
        ("ðA", "wˈɔkt", "tə", "tˈWn"),
        "they walk to town",
        "they walked to town",
        {"walked": "stt_error"},
    ),
    (
        "they walked to town",
        ("ðA", "wˈɔkt", "tə", "tˈWn"),
        "they walk to town",
        "they walk to town",
        {"walked": "homophone.td_boundary"},
    ),
    # before a vowel the d is heard: a failure
    (
        "save all of them",
        ("sˈAv", "ˈɔl", "ʌv", "ðɛm"),
        "saved all of them",
        "saved all of them",
        {"save": "tts_failure"},
    ),
    # a comma is a pause: a failure
    (
        "save, the two said",
        ("sˈAv,", "ðə", "tˈu", "sˈɛd"),
        "saved the two said",
        "saved the two said",
        {"save,": "tts_failure"},
    ),
    # a syllable is never dropped: "wanted to" heard "want to"
    (
        "they wanted to go",
        ("ðA", "wˈɑntɪd", "tə", "ɡˈO"),
        "they want to go",
        "they want to go",
        {"wanted": "tts_failure"},
    ),
]


@pytest.mark.parametrize(
    ("label", "fed", "p_text", "s_text", "expected"),
    WORD_BOUNDARY_CASES + WEAK_FORM_CASES + AS_FED_CASES + TD_BOUNDARY_CASES,
)
def test_words_heard_as_the_fed_sounds(label, fed, p_text, s_text, expected, lexicon: Lexicon) -> None:
    primary = Hypothesis("p", p_text)
    secondary = Hypothesis("s", s_text) if s_text is not None else None
    result = judge_words(label, primary, secondary, lexicon=lexicon, fed_phonemes=fed)
    got = {w.label_word: w.rule for w in result.words if w.verdict != "pass"}
    assert got.keys() == expected.keys()
    for word, rule in expected.items():
        assert got[word].startswith(rule), (word, got[word])
    assert result.summary.keep is all(r.startswith(("compound", "homophone", "stt_error")) for r in expected.values())


def test_empty_reference_and_empty_hypothesis(lexicon: Lexicon) -> None:
    empty = judge_words("", Hypothesis("p", ""), None, lexicon=lexicon)
    assert (empty.words, empty.summary.n_words, empty.summary.primary_wer, empty.summary.adjusted_wer) == (
        (),
        0,
        0.0,
        0.0,
    )
    silent = judge_words("the cat sat", Hypothesis("p", ""), Hypothesis("s", ""), lexicon=lexicon)
    assert {r.verdict for r in silent.words} == {"tts_failure"}
    assert silent.summary.primary_wer == 1.0 and silent.summary.adjusted_wer == 1.0


def test_results_pickle(lexicon: Lexicon) -> None:
    words = (Word("the", 0.0, 0.2, 0.9), Word("tail", 0.2, 0.5, 0.8), Word("ends", 0.5, 0.9, 0.9))
    hyp = Hypothesis("p", "the tail ends", words)
    result = judge_words("The tale ends.", hyp, Hypothesis("s", "the tale ends"), lexicon=lexicon)
    assert pickle.loads(pickle.dumps(result)) == result
    assert pickle.loads(pickle.dumps(hyp)) == hyp


# --------------------------------------------------------------------------------------------
# real text


def _paragraph(alice_path, min_words: int = 120) -> str:
    text = alice_path.read_text(encoding="utf-8")
    return next(p for p in text.split("\n\n") if len(p.split()) >= min_words and "_" in p)


def test_alice_paragraph_against_itself_passes(alice_path, lexicon: Lexicon) -> None:
    paragraph = _paragraph(alice_path)
    result = judge_words(paragraph, Hypothesis("p", paragraph), Hypothesis("s", paragraph), lexicon=lexicon)
    assert result.summary.n_words == len(paragraph.split())
    assert result.summary.counts["pass"] == result.summary.n_words
    assert (result.summary.primary_wer, result.summary.adjusted_wer, result.insertions) == (0.0, 0.0, ())


def test_alice_paragraph_as_a_recognizer_writes_it_passes(alice_path, lexicon: Lexicon) -> None:
    """Lower case, no punctuation, no italics, curly quotes gone: still 100 % pass."""
    paragraph = _paragraph(alice_path)
    heard = re.sub(r"[^\w\s'’-]", " ", paragraph).replace("_", "").replace("’", "'").lower()
    result = judge_words(paragraph, Hypothesis("p", heard), None, lexicon=lexicon)
    assert result.summary.counts["pass"] == result.summary.n_words > 100
