"""Keep decisions (issue 12), table by table: phoneme distance, phoneme-aware verdicts against what
Kokoro was fed (real G2P), insertions, calibration lookup, keep and reject reasons."""

from __future__ import annotations

import json

import pytest

from pipeline.calibration import calibration_for, file_name, load_tables
from pipeline.lexicon import fed_phonemes, g2p_lexicon
from verdicts import Calibration, Hypothesis, Thresholds, judge_words
from verdicts.keep import KeepDecision, decide, mos_reasons, reject_reasons, tier_for, verdict_reasons, with_reasons
from verdicts.phonemes import clean, in_fed_accent, near, phoneme_distance, same_sound, without_final_r

# --- phoneme distance --------------------------------------------------------------------------

# (fed, heard, distance, near, same_sound)
DISTANCES = [
    ("tˈAl", "tˈAl", 0.0, True, True),  # tale / tail
    ("dˈInə", "dˈinə", 0.6, True, False),  # Dinah heard as "dina": one full vowel in four symbols
    ("ɡɹˈɪfən", "ɡɹˈɪfɪn", 0.2, True, True),  # Gryphon / griffin: reduced vowels
    ("lˈid", "lˈɛd", 0.6, False, False),  # lead (to guide) / led: a misreading
    ("kˈæt", "bˈæt", 0.7, False, False),  # cat / bat: another stop
    ("kˈæt", "ɡˈæt", 0.4, True, True),  # a voicing pair only (near: names only)
    ("hˈWs", "mˈWs", 1.0, False, False),  # house / mouse
    ("ɹˈWnd", "əɹˈWnd", 0.3, True, True),  # round / around: one schwa
    ("tˈɜɾᵊl", "tˈɜɾᵊlz", 1.0, False, False),  # Turtle / turtles: a whole extra consonant
    ("ʌv", "ə", 1.6, False, False),  # of / a
    ("mˌi", "ɛmi", 1.0, False, False),  # me / "m e" spelled out
    ("wˈʌn", "", 3.0, False, False),  # nothing heard
]


@pytest.mark.parametrize(("fed", "heard", "distance", "is_near", "is_same"), DISTANCES)
def test_phoneme_distance_table(fed: str, heard: str, distance: float, is_near: bool, is_same: bool) -> None:
    assert phoneme_distance(fed, heard) == pytest.approx(distance)
    assert near(fed, heard) is is_near
    assert same_sound(fed, heard) is is_same


def test_distance_ignores_stress_spaces_and_punctuation() -> None:
    assert clean("ˌɛm ˈiː") == "ɛmi"
    assert clean("“dˈInə,”") == "dInə"
    assert phoneme_distance("ˈælɪs", "ælˌɪs") == 0.0


# --- phoneme-aware verdicts (the real G2P feeds and reads) ----------------------------------------


@pytest.fixture(scope="module")
def lexicon():
    lex = g2p_lexicon()
    assert lex.phonemes("zzyzx"), "the project G2P must load for these tests"
    return lex


# (label, both engines heard, label word, verdict, rule)
FED_CASES = [
    (
        "“Now, Dinah, tell me the truth: did you ever eat a bat?”",
        "now dina tell me the truth did you ever eat a bat",
        "Dinah",
        "spelling_variant",
        "spelling_variant.phonemes_near",
    ),
    (
        "and the Gryphon said nothing.",
        "and the griffin said nothing",
        "Gryphon",
        "spelling_variant",
        "spelling_variant.phonemes_near",
    ),
    # an interjection has no fixed spelling: judged like a name by what Kokoro was fed (əhˈʌm)
    ("“Ahem!” said the Mouse.", "a hum said the mouse", "Ahem", "spelling_variant", "spelling_variant.phonemes_near"),
    ("“Ahem!” said the Mouse.", "hum said the mouse", "Ahem", "spelling_variant", "spelling_variant.phonemes_near"),
    ("“Ugh!” said the bird.", "ah said the bird", "Ugh", "tts_failure", "tts_failure.same_word"),  # ˈʌh vs ɑ: far
    ("He said DRINK ME to her.", "he said drink m e to her", "ME", "tts_failure", "tts_failure.spelled_out"),
    ("The BBC said it.", "the b b c said it", "BBC", "abbreviation", "abbreviation.letters"),
    ("The tale ends here.", "the tail ends here", "tale", "homophone", "homophone.cmudict"),
    ("They lead the way home.", "they led the way home", "lead", "tts_failure", "tts_failure.same_word"),
    (
        "The cat sat down.",
        "the bat sat down",
        "cat",
        "tts_failure",
        "tts_failure.same_word",
    ),  # common word: no near match
    (
        "I said to Dinah that it was late.",
        "i said to dinosaur that it was late",
        "Dinah",
        "tts_failure",
        "tts_failure.same_word",
    ),
    # a rare word (Zipf < 3) heard as a more common sound-alike: the recognizers' language model
    ("She ate the comfits slowly.", "she ate the comforts slowly", "comfits", "stt_error", "stt_error.rare_word_near"),
    ("On various pretexts he left.", "on various pretext he left", "pretexts", "stt_error", "stt_error.rare_word_near"),
    # a rare word the engines do not know, written as a non-word that sounds as fed: spelled like a name
    ("Bands of astrakhan were slashed.", "bands of astrican were slashed", "astrakhan", "spelling_variant",
     "spelling_variant.phonemes_near"),
    # ... but a far non-word stays a failure, and so does a real word near a common label word
    ("Bands of astrakhan were slashed.", "bands of astrofan were slashed", "astrakhan", "tts_failure",
     "tts_failure.same_word"),
    # ... but not a far one, nor a common word heard as a near one ("finely" Zipf 3.5)
    ("She ate the comfits slowly.", "she ate the carrots slowly", "comfits", "tts_failure", "tts_failure.same_word"),
    ("It was finely made.", "it was finally made", "finely", "tts_failure", "tts_failure.same_word"),
    ("It was finely made.", "it was fainly made", "finely", "tts_failure", "tts_failure.same_word"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "heard", "word", "verdict", "rule"), FED_CASES)
def test_verdicts_against_fed_phonemes(lexicon, label: str, heard: str, word: str, verdict: str, rule: str) -> None:
    fed = fed_phonemes(label)
    assert fed is not None and len(fed) == len(label.split())
    result = judge_words(label, Hypothesis("p", heard), Hypothesis("s", heard), lexicon=lexicon, fed_phonemes=fed)
    (row,) = [r for r in result.words if r.norm_word == word.lower()]
    assert (row.verdict, row.rule) == (verdict, rule), row
    assert row.fed_phonemes == fed[row.index]
    others = [r for r in result.words if r is not row]
    assert all(r.verdict == "pass" for r in others), others


def test_non_rhotic_fed_phonemes_drop_the_heard_words_final_r() -> None:
    assert without_final_r("ænswɜɹθ") == "ænswɜθ"
    assert without_final_r("bɹˈIəni") == "bɹIəni"  # an r before a vowel stays
    assert in_fed_accent("ˈɑːnswɜːθ", {"ænswɜɹθ"}) == {"ænswɜɹθ", "ænswɜθ"}  # British fed: no r after a vowel
    assert in_fed_accent("mˈɔɹkɑɹ", {"mɔɹkə"}) == {"mɔɹkə"}  # a rhotic fed reading keeps the heard r
    # British LOT and GOAT vowels in the fed reading: the heard (US) forms are also said that way
    assert in_fed_accent("bɹɪˈɒni", {"bɹɪɑnə"}) == {"bɹɪɑnə", "bɹɪɒnə"}
    assert in_fed_accent("hˈQm", {"hOm"}) == {"hOm", "hQm"}
    assert in_fed_accent("bˈɑdi", {"bɑdi"}) == {"bɑdi"}  # a US fed reading: no swap


# (label, name, fed phonemes of the name or None for the G2P's, primary heard, secondary heard, verdict)
NAME_CASES = [
    # one engine near, the other a plausible spelling of the same sound: a name both had to guess
    ("Briony Lodge was near.", "Briony", None, "breonna lodge was near", "brianna lodge was near", "spelling_variant"),
    # a British voice fed ˈɑːnswɜːθ: "answorth" read by the US G2P has an r the accent does not say
    ("I met Arnsworth there.", "Arnsworth", "ˈɑːnswɜːθ", "i met answorth there", "i met answorth there",
     "spelling_variant"),
    # a British voice fed bɹɪˈɒni: "breonna" (US G2P bɹɪɑnə) said with the British LOT vowel is near
    ("Briony Lodge was near.", "Briony", "bɹɪˈɒni", "breonna lodge was near", "breone lodge was near",
     "spelling_variant"),
    # one near, the other far: not the same sound
    ("Briony Lodge was near.", "Briony", None, "breonna lodge was near", "vandhushman lodge was near", "ambiguous"),
    ("I met Arnsworth there.", "Arnsworth", "ˈɑːnswɜːθ", "i met sworth there", "i met sworth there", "tts_failure"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "name", "fed_name", "primary", "secondary", "verdict"), NAME_CASES)
def test_a_name_two_engines_spell_two_ways(lexicon, label, name, fed_name, primary, secondary, verdict) -> None:
    fed = list(fed_phonemes(label))
    at = label.split().index(name)
    if fed_name is not None:
        fed[at] = fed_name
    result = judge_words(label, Hypothesis("p", primary), Hypothesis("s", secondary), lexicon=lexicon,
                         fed_phonemes=tuple(fed))  # fmt: skip
    assert result.by_label()[name].verdict == verdict, result.by_label()[name]


def test_without_fed_phonemes_a_respelled_name_is_a_tts_failure(lexicon) -> None:
    label, heard = "I said to Dinah that it was late.", "i said to dina that it was late"
    result = judge_words(label, Hypothesis("p", heard), Hypothesis("s", heard), lexicon=lexicon)
    assert result.by_label()["Dinah"].verdict == "tts_failure"
    # fed phonemes that do not match the label's words are ignored, never misapplied
    result = judge_words(label, Hypothesis("p", heard), Hypothesis("s", heard), lexicon=lexicon, fed_phonemes=("a",))
    assert result.by_label()["Dinah"].verdict == "tts_failure"


# --- insertions --------------------------------------------------------------------------------

LABEL = "Alice was beginning to get very tired"
# (primary heard, secondary heard or None, keep, reasons, rule of the insertion row, its position)
INSERTIONS = [
    (
        "alice was was beginning to get very tired",
        "alice was was beginning to get very tired",
        False,
        ("insertion",),
        "insertion.both_engines",
        2,
    ),
    ("alice was was beginning to get very tired", None, False, ("insertion",), "insertion.single_engine", 2),
    (
        "alice was beginning to get very very tired",
        "alice was beginning to get very tired",
        False,
        ("ambiguous_insertion",),
        "insertion.primary_only",
        6,
    ),
    (
        "alice was beginning to get very tired",
        "alice was beginning to get very tired indeed",
        False,
        ("ambiguous_insertion",),
        "insertion.secondary_only",
        7,
    ),
    (
        "alice was uh beginning to get very tired",
        "alice was uh beginning to get very tired",
        True,
        (),
        "filler_word.inserted",
        2,
    ),
    ("alice was beginning to get very tired", "alice was beginning to get very tired", True, (), None, None),
]


@pytest.mark.parametrize(("primary", "secondary", "keep", "reasons", "rule", "position"), INSERTIONS)
def test_insertions_decide(lexicon, primary, secondary, keep, reasons, rule, position) -> None:
    second = Hypothesis("s", secondary) if secondary is not None else None
    result = judge_words(LABEL, Hypothesis("p", primary), second, lexicon=lexicon)
    s = result.summary
    assert (s.keep, s.reasons) == (keep, reasons)
    assert s.tier == ("reject" if not keep else "strict")
    if rule is None:
        assert result.insertions == ()
        return
    (row,) = result.insertions
    assert (row.rule, row.position, row.index) == (rule, position, -1)
    counted = 0 if row.verdict == "filler_word" else 1
    assert s.n_insertions == counted
    assert s.adjusted_wer == pytest.approx(counted / len(LABEL.split()))


def test_a_repeat_placed_differently_by_the_two_engines_is_one_insertion(lexicon) -> None:
    # Real transcripts of Kokoro saying "... out of the way out of the way": the alignment puts the
    # primary's copy before the first "out", the secondary's after the last "way".
    label = "There was nothing so very remarkable in that; nor did Alice think it so very much out of the way."
    heard = (
        "There was nothing so very remarkable in that. Nor did Alice think {} so very much out of the way, "
        "out of the way."
    )
    result = judge_words(
        label, Hypothesis("p", heard.format("it's")), Hypothesis("s", heard.format("it")), lexicon=lexicon
    )
    (row,) = result.insertions
    assert (row.rule, row.position, row.primary_word, row.secondary_word) == (
        "insertion.both_engines",
        len(label.split()),
        "out of the way",
        "out of the way",
    )
    assert result.summary.reasons == ("insertion",)


def test_unverified_and_unspeakable_labels_are_not_kept(lexicon) -> None:
    truncated = judge_words(LABEL, Hypothesis("p", "alice was"), None, lexicon=lexicon).summary
    assert (truncated.keep, truncated.reasons) == (False, ("unverified",))
    unrelated = judge_words(
        LABEL, Hypothesis("p", "the quick brown fox jumps over dogs"), None, lexicon=lexicon
    ).summary
    assert unrelated.keep is False and unrelated.adjusted_wer == pytest.approx(1.0)
    dashes = judge_words("— — * —", Hypothesis("p", "and so it went on for a while"), None, lexicon=lexicon).summary
    assert dashes.n_words == 0 and dashes.keep is False
    assert dashes.reasons == ("insertion", "unspeakable_label") and dashes.adjusted_wer == 1.0


def test_cascade_escalates_on_unexplained_primary_insertions(lexicon) -> None:
    solo = judge_words(
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty twenty one",
        Hypothesis(
            "p",
            "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen twenty twenty one more",
        ),
        None,
        lexicon=lexicon,
    ).summary
    assert solo.primary_wer <= Thresholds().escalate_wer
    assert solo.escalate is True and "insertion" in (solo.escalate_reason or "")


def test_cascade_escalates_a_word_the_primary_leaves_unverified(lexicon) -> None:
    label = " ".join(["alice was beginning to get very tired of sitting by her sister on the bank"] * 2)
    solo = judge_words(label, Hypothesis("p", label.replace("sister", "blister", 1)), None, lexicon=lexicon).summary
    assert solo.primary_wer <= Thresholds().escalate_wer and solo.counts["unverified"] == 1
    assert solo.escalate is True and "unverified" in (solo.escalate_reason or "")


# --- calibration -------------------------------------------------------------------------------

CAL = Calibration("e", "m", (0.2, 0.6, 0.9), (0.5, 0.9, 0.99))
# (raw confidence, calibrated)
LOOKUPS = [(0.0, 0.5), (0.2, 0.5), (0.4, 0.7), (0.6, 0.9), (0.75, 0.945), (0.9, 0.99), (1.0, 0.99)]


@pytest.mark.parametrize(("raw", "expected"), LOOKUPS)
def test_calibration_lookup(raw: float, expected: float) -> None:
    assert CAL(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("xs", "ys"), [((), ()), ((0.5, 0.2), (0.1, 0.2)), ((0.1, 0.2), (0.9, 0.1)), ((0.1,), (1.5,)), ((0.1, 0.2), (0.1,))]
)
def test_bad_calibration_tables_are_refused(xs, ys) -> None:
    with pytest.raises(ValueError):
        Calibration("e", "m", xs, ys)


def test_calibration_files_round_trip_and_lookup(tmp_path) -> None:
    (tmp_path / file_name("e", "m/1")).write_text(json.dumps(CAL.to_json() | {"model": "m/1"}))
    (tmp_path / "broken.json").write_text("{")
    load_tables.cache_clear()
    found = calibration_for("e", "m/1", tmp_path)
    assert found is not None and found(0.75) == pytest.approx(0.945)
    assert calibration_for("e", "other", tmp_path) is None
    assert file_name("whisper-tiny", "whisper-tiny.en") == "whisper-tiny--whisper-tiny.en.json"


def test_shipped_calibrations_are_monotone_and_used_for_tiers() -> None:
    tables = load_tables()
    assert tables, "data/calibration/ holds the fitted tables"
    for cal in tables.values():
        assert all(b >= a for a, b in zip(cal.ys, cal.ys[1:], strict=False))
        assert cal.fitted_on["words"] > 0 and cal.fitted_on["wrong_words"] > 0


# --- keep and reasons --------------------------------------------------------------------------


def test_reasons_are_ordered_and_unique() -> None:
    assert reject_reasons(["low_mos", "insertion"], ["tts_failure", "insertion"], ["speaker_drift"]) == (
        "tts_failure",
        "insertion",
        "low_mos",
        "speaker_drift",
    )


# (counts, n_words, confirmed insertions, unconfirmed insertions, reasons)
VERDICT_REASONS = [
    ({"pass": 5}, 5, 0, 0, ()),
    ({"tts_failure": 1, "ambiguous": 1}, 5, 0, 0, ("tts_failure", "ambiguous")),
    ({"unverified": 2}, 5, 0, 0, ("unverified",)),
    ({"pass": 5}, 5, 1, 1, ("insertion", "ambiguous_insertion")),
    ({}, 0, 0, 0, ("unspeakable_label",)),
]


@pytest.mark.parametrize(("counts", "n_words", "confirmed", "unconfirmed", "reasons"), VERDICT_REASONS)
def test_verdict_reasons(counts, n_words, confirmed, unconfirmed, reasons) -> None:
    assert verdict_reasons(counts, n_words, confirmed, unconfirmed) == reasons


TH = Thresholds()
# (reason sources, adjusted WER, calibrated confidence, decision)
DECISIONS = [
    ([()], 0.0, 0.99, KeepDecision(True, (), "strict")),
    ([()], 0.0, 0.92, KeepDecision(True, (), "balanced")),
    ([()], 0.0, 0.85, KeepDecision(True, (), "permissive")),
    ([()], 0.0, 0.50, KeepDecision(True, (), "reject")),
    ([()], 0.0, None, KeepDecision(True, (), "strict")),  # no calibration: WER alone
    ([("tts_failure",)], 0.0, 0.99, KeepDecision(False, ("tts_failure",), "reject")),
    ([(), mos_reasons(3.0, 3.5)], 0.0, 0.99, KeepDecision(False, ("low_mos",), "reject")),
    ([(), mos_reasons(None, 3.5), mos_reasons(4.0, 3.5)], 0.0, 0.99, KeepDecision(True, (), "strict")),
]


@pytest.mark.parametrize(("sources", "wer", "conf", "expected"), DECISIONS)
def test_keep_decisions(sources, wer, conf, expected) -> None:
    assert decide(sources, wer, conf, TH) == expected


def test_more_reasons_make_a_kept_clip_a_reject() -> None:
    kept = KeepDecision(True, (), "balanced")
    assert with_reasons(kept, ()) == kept
    assert with_reasons(kept, ("speaker_drift",)) == KeepDecision(False, ("speaker_drift",), "reject")
    assert tier_for(0.03, 0.99, TH) == "balanced"


# --- tier settings and flags -------------------------------------------------------------------


def test_tier_flags_become_settings() -> None:
    import typer

    from pipeline.commands.options import tier_overrides
    from pipeline.settings import Settings

    overrides = tier_overrides("0.01,0.04,0.2", "0.99,0.9,0.5")
    settings = Settings(**overrides)
    th = settings.thresholds
    assert (th.strict_wer, th.balanced_wer, th.permissive_wer) == (0.01, 0.04, 0.2)
    assert (th.strict_confidence, th.balanced_confidence, th.permissive_confidence) == (0.99, 0.9, 0.5)
    assert tier_overrides(None, None) == {}
    for bad in ("0.9,0.8", "a,b,c"):
        with pytest.raises(typer.BadParameter, match="three numbers"):
            tier_overrides(None, bad)


# (label, primary heard, secondary heard, insertion rows left): one engine wrote a word as two
# ("accustomed" as "a" + "customed") while the other heard it; joined, the two sound as fed
SPLIT_BY_ONE_ENGINE = [
    ("So accustomed was I to it.", "so accustomed was i to it", "so a customed was i to it", 0),
    # the extra word joined does not sound as fed: a real extra word stays
    ("So accustomed was I to it.", "so accustomed was i to it", "so very customed was i to it", 1),
    # an extra copy of a word the engine heard right is no split: the repeat stays
    ("So accustomed was I to it.", "so accustomed was i to it", "so so accustomed was i to it", 1),
]


@pytest.mark.parametrize(("label", "primary", "secondary", "left"), SPLIT_BY_ONE_ENGINE)
def test_a_word_one_engine_wrote_as_two(lexicon, label, primary, secondary, left) -> None:
    fed = fed_phonemes(label)
    result = judge_words(label, Hypothesis("p", primary), Hypothesis("s", secondary), lexicon=lexicon, fed_phonemes=fed)
    extra = [i for i in result.insertions if i.verdict == "insertion"]
    assert len(extra) == left, extra
    assert result.summary.keep is (left == 0)
    assert result.by_label()["accustomed"].verdict in ("pass", "secondary_error")
