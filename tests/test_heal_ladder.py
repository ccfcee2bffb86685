"""The heal ladder's pure parts: the split point, the next rung, the speeds, the selection order,
the lexicon file and the ``[word](/phonemes/)`` override through the real G2P."""

from __future__ import annotations

import math

import pytest

from pipeline.heal.ladder import Rung, next_rung, parse_ladder, speed_for, split_label
from pipeline.heal.pronunciations import LexiconError, load_lexicon
from pipeline.heal.rechunk import (
    chunk_for_label,
    learned_readings,
    stressed,
    with_stressed_words,
    with_word_readings,
    word_reading,
)
from pipeline.heal.selection import choose, takes
from pipeline.heal.state import ClipRow
from pipeline.records import Chunk
from pipeline.tts.espeak import second_reading
from pipeline.tts.g2p import apply_overrides


@pytest.mark.parametrize(
    "text",
    [
        "Alice was not a bit hurt, and she jumped up on to her feet in a moment.",
        "She looked up. But it was all dark overhead; before her was another long passage.",
        "“Curiouser and curiouser!” cried Alice (she was so much surprised, that for the moment she quite forgot).",
        "CHAPTER I. Down the Rabbit-Hole",
        "two words",
    ],
)
def test_split_halves_join_to_the_label_exactly(text: str) -> None:
    a, b = split_label(text)
    assert f"{a} {b}" == text
    assert a.strip() and b.strip()


def test_split_prefers_a_sentence_end_then_a_clause_then_a_comma() -> None:
    assert split_label("She looked up. But it was all dark overhead; before her was another long passage.")[0] == (
        "She looked up. But it was all dark overhead;"
    )
    assert split_label("Alice was not a bit hurt, and she jumped up on to her feet in a moment.") == (
        "Alice was not a bit hurt,",
        "and she jumped up on to her feet in a moment.",
    )
    assert split_label("Alone") is None
    assert split_label("— Alice") is None  # a half with no word


def test_next_rung_follows_the_ladder_and_passes_over_what_cannot_apply() -> None:
    ladder = ("lexicon", "speed", "split", "backend")
    everything = {"lexicon", "speed", "split", "backend"}
    assert next_rung(ladder, [], everything) == Rung("lexicon", 0)
    assert next_rung(ladder, [], {"speed", "split"}) == Rung("speed", 0)
    assert next_rung(ladder, ["speed"], {"speed", "split"}) == Rung("split", 0)
    assert next_rung(ladder, ["speed", "split"], {"speed", "split"}) is None
    assert next_rung(("speed", "speed"), ["speed"], {"speed"}) == Rung("speed", 1)
    assert parse_ladder("speed, split") == ("speed", "split")
    with pytest.raises(ValueError, match="rungs are"):
        parse_ladder("speed,louder")


def test_speed_variants_alternate_around_the_base() -> None:
    assert [speed_for(1.0, v, 0.08) for v in range(4)] == [0.92, 1.08, 0.84, 1.16]


def _row(attempt: int, keep: bool, wer: float, part: str | None = None, **extra) -> ClipRow:
    values = dict(
        file_hash=f"h{attempt}{part or ''}", path=f"p{attempt}{part or ''}", book="b", voice="v", voice_recipe="v",
        chapter_index=1, chunk_index=3, chunk_part=part, attempt=attempt, heal_step=None, text="t", keep=keep,
        tier=None, validated=True, adjusted_wer=wer, primary_conf_calibrated=0.9, secondary_conf_calibrated=None,
        composite_mos=None, speaker_similarity=None, duration_s=1.0, selected=None, speed=1.0, tts_engine="onnx",
        reasons=[], primary_engine="whisper", primary_text="t", secondary_engine=None, secondary_text=None,
        validate_error=None,
    )  # fmt: skip
    return ClipRow(**(values | extra))


def test_selection_order_kept_then_wer_then_confidence_then_mos_then_similarity() -> None:
    rejected = _row(0, False, 0.0)
    worse = _row(1, True, 0.05)
    better = _row(2, True, 0.0)
    assert choose([rejected, worse, better]).clips == (better,)
    confident = _row(3, True, 0.0, primary_conf_calibrated=0.99)
    assert choose([better, confident]).clips == (confident,)
    scored = _row(4, True, 0.0, primary_conf_calibrated=0.99, composite_mos=4.0)
    assert choose([confident, scored]).clips == (scored,)
    similar = _row(5, True, 0.0, primary_conf_calibrated=0.99, composite_mos=4.0, speaker_similarity=0.9)
    assert choose([scored, similar]).clips == (similar,)
    assert choose([_row(6, True, 0.0), _row(7, True, 0.0)]).attempt == 6  # ties: the earlier attempt
    assert choose([rejected]).clips == (rejected,)  # nothing kept: the best take is still selected
    nan = _row(8, False, math.nan)
    assert choose([nan, rejected]).clips == (rejected,)


def test_a_split_take_needs_both_halves_and_is_kept_only_when_both_are() -> None:
    a, b = _row(2, True, 0.0, "a"), _row(2, False, 0.0, "b")
    assert [t.clips for t in takes([a])] == []
    whole = _row(0, False, 0.0)
    assert choose([whole, a, b]).clips == (whole,)  # neither kept, all else equal: the whole clip
    assert choose([_row(0, False, 0.1), a, b]).clips == (a, b)  # neither kept: the lower (worst-half) WER
    b_kept = _row(2, True, 0.0, "b")
    assert choose([whole, a, b_kept]).clips == (a, b_kept)
    # halves of different attempts combine: the best clip of each half
    b_later = _row(4, True, 0.0, "b")
    assert choose([whole, a, b, b_later]).clips == (a, b_later)
    assert choose([whole, a, b, b_later]).kept


def test_lexicon_file_forms(tmp_path) -> None:
    plain = tmp_path / "book.lex"
    plain.write_text("# names\nDinah dˈInə\nCheshire ʧˈɛʃəɹ  # the cat\n", encoding="utf-8")
    assert load_lexicon(plain) == {"dinah": "dˈInə", "cheshire": "ʧˈɛʃəɹ"}
    js = tmp_path / "book.json"
    js.write_text('{"Dinah": "dˈInə"}', encoding="utf-8")
    assert load_lexicon(js) == {"dinah": "dˈInə"}
    bad = tmp_path / "bad.lex"
    bad.write_text("Dinah\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="bad.lex:1"):
        load_lexicon(bad)


def test_an_override_changes_exactly_that_words_phonemes(g2p) -> None:
    assert apply_overrides("Now, Dinah, tell me.", {"dinah": "dˈinə"}) == "Now, [Dinah](/dˈinə/), tell me."
    template = Chunk("b", 7, 1, "", "text", "", "", "", 0, 0.0)
    text = "Now, Dinah, tell me the truth."
    plain = chunk_for_label(template, text, g2p)
    fixed = chunk_for_label(template, text, g2p, overrides={"dinah": "dˈinə"})
    assert fixed.text == plain.text == text and fixed.index == 7
    changed = [(p, f) for p, f in zip(plain.word_phonemes, fixed.word_phonemes, strict=True) if p != f]
    assert changed == [(plain.word_phonemes[1], "dˈinə,")]  # the label word "Dinah," owns the comma
    assert len(fixed.word_spans) == len(text.split())


def test_lexicon_suggest_proposes_words_failing_in_several_chunks(store, populated) -> None:
    from helpers.populate import ALICE

    from pipeline.heal.pronunciations import format_lexicon, suggest

    found = suggest(store, ALICE, min_chunks=1, reader=lambda word: "ˈwɜːd")
    assert found, "the demo data has failing words"
    with store.session("checking") as conn:
        for s in found[:5]:
            chunks = conn.execute(
                "select count(distinct q.chunk_index) from audio_words w"
                " join audio_quality q using (file_hash, dataset) where w.dataset = %s and lower(w.norm_word) = %s"
                " and w.verdict in ('tts_failure', 'ambiguous') and w.word_index >= 0",
                (ALICE, s.word),
            ).fetchone()[0]
            assert chunks == s.chunks >= 1
            assert s.proposed == "ˈwɜːd"
    assert all(a.chunks >= b.chunks for a, b in zip(found, found[1:], strict=False))
    several = suggest(store, ALICE, min_chunks=2)
    assert [s.word for s in several] == [s.word for s in found if s.chunks >= 2]
    text = format_lexicon(found)
    entries = [line.split("#", 1)[0].split() for line in text.splitlines() if line and not line.startswith("#")]
    assert [e[0] for e in entries] == [s.word for s in found]


@pytest.mark.parametrize(
    ("fed", "expected"),
    [
        ("ʌv", "ˈʌv"),  # "of" in its weak form
        ("hi", "hˈi"),  # "he"
        ("ˌɔn", "ˈɔn"),  # a secondary stress is raised
        ("fɔɹ,", "fˈɔɹ,"),  # the punctuation a word owns stays
        ("hˈɛm", None),  # already stressed
        ("ɹ", None),  # no vowel
    ],
)
def test_stressed_puts_primary_stress_on_the_first_vowel(fed: str, expected: str | None) -> None:
    assert stressed(fed) == expected


def test_stressing_words_changes_only_those_words_phonemes(g2p) -> None:
    template = Chunk("b", 3, 1, "", "text", "", "", "", 0, 0.0)
    text = "I must have been changed for Mabel! It would be of very little use."
    plain = chunk_for_label(template, text, g2p)
    tokens = text.split()
    asked = [tokens.index("for"), tokens.index("of"), tokens.index("Mabel!")]  # "Mabel!" is stressed already
    out = with_stressed_words(plain, asked)
    assert out is not None and out.text == plain.text and out.index == 3
    changed = [i for i, (p, s) in enumerate(zip(plain.word_phonemes, out.word_phonemes, strict=True)) if p != s]
    assert changed == [tokens.index("for"), tokens.index("of")]
    for i in changed:
        assert out.word_phonemes[i] == stressed(plain.word_phonemes[i])
    # the spans still cut each word's phonemes out of the edited string, and nothing else moved
    for span, word in zip(out.word_spans, out.word_phonemes, strict=True):
        assert span is not None and out.phonemes[span[0] : span[1]] == word.strip()
    assert out.phonemes.replace("ˈ", "") == plain.phonemes.replace("ˈ", "")
    assert with_stressed_words(plain, [tokens.index("Mabel!")]) is None
    assert with_stressed_words(plain, []) is None


@pytest.mark.parametrize(
    ("span", "parts"),
    [
        ("“ˈʌh!”", ("“", "ˈʌh", "!”")),
        ("kˈʌmfəts,", ("", "kˈʌmfəts", ",")),
        ("ðə", ("", "ðə", "")),
        ("—", ("—", "", "")),
    ],
)
def test_word_reading_separates_a_words_phonemes_from_its_punctuation(span: str, parts: tuple) -> None:
    assert word_reading(span) == parts


def test_second_reading_is_espeaks_in_misakis_notation_and_kokoros_symbols() -> None:
    ipa = {"Ugh": "ˈʌɡ", "chatte": "tʃˈæt", "Dinah": "dˈaɪnə", "odd": "ˈɑːd"}
    assert second_reading("“Ugh!”", ipa.get, set("ˈʌɡ")) == "ˈʌɡ"
    assert second_reading("chatte?", ipa.get, set("ˈʧæt")) == "ʧˈæt"  # misaki's one-letter affricate
    assert second_reading("Dinah,", ipa.get, set("ˈdIn")) == "dˈIn"  # a symbol Kokoro lacks is dropped
    assert second_reading("—", ipa.get, set("x")) is None
    assert second_reading("unknown", ipa.get, set("x")) is None


def test_word_readings_change_only_those_words_and_keep_their_punctuation(g2p) -> None:
    template = Chunk("b", 7, 1, "", "text", "", "", "", 0, 0.0)
    text = "“Ugh!” said the Lory, with a shiver."
    plain = chunk_for_label(template, text, g2p)
    out = with_word_readings(plain, {0: "ˈʌɡ", 3: "lˈɔːɹi"})
    assert out is not None
    assert out.word_phonemes[0] == plain.word_phonemes[0].replace(word_reading(plain.word_phonemes[0])[1], "ˈʌɡ")
    assert out.word_phonemes[0].startswith("“") and out.word_phonemes[0].endswith("!”")
    assert out.word_phonemes[3] == "lˈɔːɹi,"
    assert [w for i, w in enumerate(out.word_phonemes) if i not in (0, 3)] == [
        w for i, w in enumerate(plain.word_phonemes) if i not in (0, 3)
    ]
    for span, word in zip(out.word_spans, out.word_phonemes, strict=True):
        assert span is not None and out.phonemes[span[0] : span[1]] == word.strip()
    assert with_word_readings(plain, {0: word_reading(plain.word_phonemes[0])[1]}) is None  # nothing changes


def test_learned_readings_keep_what_an_earlier_attempt_fixed() -> None:
    fed = ("“ˈʌh!”", "sˈɛd", "ðə", "lˈɔɹi,")
    respelled = ("“ˈʌɡ!”", "sˈɛd", "ðə", "lˈɔɹi,")  # heard as written now: keep it
    stressed = ("“ˈʌh!”", "sˈɛd", "ðˈə", "lˈɔɹi,")  # still not heard as written: forget it
    assert learned_readings(fed, [(respelled, set()), (stressed, {2})]) == {0: "ˈʌɡ"}
    assert learned_readings(fed, [(respelled, {0})]) == {}
    assert learned_readings(fed, [(("“ˈʌɡ!”", "sˈɛd"), set())]) == {}  # a split half: another length
