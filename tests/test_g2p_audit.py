"""The G2P audit (pipeline/tts/g2p_audit.py) on the real misaki G2P and espeak-ng, table-driven,
and end to end: an ALL-CAPS "DRINK ME" is read as words at generate time and the flag is stored."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.manifest import Manifest
from pipeline.tts.g2p import Phonemized, PhonemizedWord
from pipeline.tts.g2p_audit import (
    G2P_FOREIGN_READING,
    G2P_HETERONYM_DISPUTED,
    G2P_HETERONYM_UNCERTAIN,
    G2P_LETTER_SPELLING,
    G2P_NO_PHONEMES,
    G2P_OUT_OF_VOCAB,
    G2P_UNKNOWN_MARKER,
    G2PAuditor,
    heteronym_reading,
    lower_words,
    word_shaped,
)


@pytest.fixture(scope="module")
def auditor(g2p) -> G2PAuditor:
    audit = G2PAuditor(g2p)
    audit.setup()
    return audit


@pytest.fixture(scope="module")
def caps_kept(g2p) -> G2PAuditor:
    audit = G2PAuditor(g2p, keep_caps=True)
    audit.setup()
    return audit


# text -> (letter-spelled words found, text the G2P reads after the fix)
LETTER_SPELLING = [
    ("It was labelled DRINK ME in large letters.", {"ME"}, "It was labelled DRINK me in large letters."),
    ("EAT ME", set(), "EAT ME"),  # misaki reads this ME as a word already
    ("The BBC and the FBI reported it.", set(), "The BBC and the FBI reported it."),  # acronyms: no dictionary word
    ("I said so.", set(), "I said so."),  # one letter is a letter
    # names in capitals: no lexicon knows them, but they are shaped like words, not initialisms
    (
        "“Very truly yours, “IRENE NORTON, née ADLER.”",
        {"IRENE", "NORTON", "ADLER"},
        "“Very truly yours, “irene norton, née adler.”",
    ),
]


@pytest.mark.parametrize(
    ("word", "shaped"),
    [("IRENE", True), ("ADLER", True), ("STRAUSS", True), ("BBC", False), ("HTML", False), ("USSR", False),
     ("IEEE", False), ("FBI", False)],
)  # fmt: skip
def test_word_shaped_tells_names_from_initialisms(word, shaped):
    assert word_shaped(word) is shaped


def test_a_lower_case_word_read_letter_by_letter_is_an_unfixed_finding(auditor):
    """A phoneme override (or lexicon entry) that spells a dictionary word out is flagged in any
    case; only ALL-CAPS words can be fixed by reading them in lower case."""
    text = "She said [the](/tˈi ˈAʧ ˈi/) word and [Cat](/sˈi ˈA tˈi/) too."
    read, _, flags = auditor.audit_and_fix(text)
    letter = [f for f in flags if f.rule == G2P_LETTER_SPELLING]
    assert {f.word for f in letter} == {"the", "Cat"}
    assert not any(f.fixed for f in letter)
    assert read == text


@pytest.mark.parametrize(("text", "spelled", "fixed_text"), LETTER_SPELLING)
def test_letter_spelled_dictionary_words_are_flagged_and_read_as_words(auditor, caps_kept, text, spelled, fixed_text):
    read, phonemized, flags = auditor.audit_and_fix(text)
    letter = [f for f in flags if f.rule == G2P_LETTER_SPELLING]
    assert {f.word for f in letter} == spelled
    assert all(f.fixed for f in letter)
    assert read == fixed_text
    assert all(not auditor.is_letter_spelling(w.text, w.phonemes) for w in phonemized.words)
    # --keep-caps: the same findings, nothing changed
    kept_text, kept, kept_flags = caps_kept.audit_and_fix(text)
    assert kept_text == text
    assert {f.word for f in kept_flags if f.rule == G2P_LETTER_SPELLING and not f.fixed} == spelled


def test_drink_me_phonemes_before_and_after(auditor, g2p):
    text = "It was labelled DRINK ME in large letters."
    assert "dɹˈɪŋk ˌɛmˈi" in g2p.phonemize(text).phonemes  # misaki spells it ("em-ee") in this sentence
    _, fixed, _ = auditor.audit_and_fix(text)
    assert "dɹˈɪŋk mˌi" in fixed.phonemes


# (word, phonemes) -> rules: constructed G2P output, as misaki could return it
WORD_RULES = [
    (("cat", "kˈæt"), set()),
    (("Zyx", ""), {G2P_NO_PHONEMES}),
    (("—", ""), set()),  # punctuation is silent by design
    (("flibber-gast", "flˈɪbəɹ❓"), {G2P_UNKNOWN_MARKER}),
    (("weird", "wˈɪɹd<"), {G2P_OUT_OF_VOCAB}),  # "<" is not in Kokoro's vocab
    (("naïve", "nɑˈiv"), set()),
]


@pytest.mark.parametrize(("word", "rules"), WORD_RULES)
def test_word_rules(auditor, word, rules):
    text, phonemes = word
    phonemized = Phonemized(text, phonemes, (PhonemizedWord(text, phonemes, ""),), ())
    assert {f.rule for f in auditor.word_flags(phonemized)} == rules


# heteronym readings in both notations (misaki's letters, espeak-ng's IPA)
READINGS = [
    ("close", "klˈOs", "s (near)"),
    ("close", "klˈoʊz", "z (shut)"),
    ("close", "klˈQs", "s (near)"),  # British: misaki's Q
    ("close", "klˈəʊz", "z (shut)"),  # British: espeak-ng en-gb
    ("bow", "bˈQ", "oʊ (ribbon)"),
    ("bow", "bˈO", "oʊ (ribbon)"),
    ("bow", "bˈaʊ", "aʊ (bend)"),
    ("wind", "wˈInd", "aɪ (turn)"),
    ("read", "ɹˈɛd", "ɛ (past)"),
    ("read", "ɹˈiːd", "iː (present)"),
    ("tear", "tˈɛɹ", "ɛə (rip)"),
    ("refuse", "ɹᵻfjˈuːz", "verb"),
    ("cat", "kˈæt", None),
]


@pytest.mark.parametrize(("word", "phonemes", "reading"), READINGS)
def test_heteronym_readings(word, phonemes, reading):
    assert heteronym_reading(word, phonemes) == reading


# sentence -> heteronyms where misaki and espeak-ng disagree (either may be the wrong one)
HETERONYM_SENTENCES = [
    ("The wind blew hard.", set()),  # both: the air
    ("Wind the clock before bed.", {"Wind"}),  # misaki: turn (right); espeak-ng: air
    ("I read it yesterday.", {"read"}),  # misaki: past (right); espeak-ng: present
    ("I will read it tomorrow.", set()),
    ("She had a tear in her eye.", set()),
    ("Alice was not a bit hurt.", set()),  # no heteronym at all
]


@pytest.mark.parametrize(("sentence", "uncertain"), HETERONYM_SENTENCES)
def test_heteronym_second_opinion(auditor, g2p, sentence, uncertain):
    flags = auditor.heteronym_flags(g2p.phonemize(sentence))
    assert {f.word for f in flags} == uncertain
    assert all(f.rule == G2P_HETERONYM_UNCERTAIN and "espeak-ng" in f.detail for f in flags)


# text (misaki's markup feeds a chosen reading) -> {word: rule}. Three opinions on the fed reading:
# misaki with two other taggers' parts of speech (en_core_web_md, gruut's CRF) and espeak-ng's
# reading of the sentence (only for the words of its table). The fed reading loses when more
# opinions are against it than for it; a tie is for review.
HETERONYM_VOTES = [
    # misaki (sm) reads "used" here as in "he used it" (z); with md's tags, as in "used to" (s)
    ("Alice was getting so used to queer things happening.", {"used": G2P_HETERONYM_DISPUTED}),
    ("Please [read](/ɹˈɛd/) it to me tomorrow.", {"read": G2P_HETERONYM_DISPUTED}),  # both: present
    ("The [wind](/wˈInd/) blew hard.", {"wind": G2P_HETERONYM_DISPUTED}),  # both: the air
    ("He lives in a small [house](/hˈWz/).", {"house": G2P_HETERONYM_DISPUTED}),  # not in espeak's table
    # both taggers: z (shut); espeak-ng alone sides with the fed s, and is outvoted
    ("Please [close](/klˈOs/) the door.", {"close": G2P_HETERONYM_DISPUTED}),
    ("Wind the clock before bed.", {"Wind": G2P_HETERONYM_UNCERTAIN}),  # only espeak-ng disagrees
    # misaki tags this "read" VBD (past, ɛ); md's tags and espeak-ng: present, as the imperative is
    ("Please shut the door and read the letter.", {"read": G2P_HETERONYM_DISPUTED}),
    # past, as "tore" says: both taggers read ɛ, espeak-ng alone sides with the fed present
    ("My friend tore it open, and we all three [read](/ɹˈid/) it together.", {"read": G2P_HETERONYM_DISPUTED}),
    # misaki's own reading (adjective); md's tags read the noun, gruut's the adjective: a tie
    ("“Are you content now?” said the Caterpillar.", {"content": G2P_HETERONYM_UNCERTAIN}),
    ("She will read the letter.", {}),  # misaki's own reading, all opinions agree
    ("He lives in a small house.", {}),
]


@pytest.mark.parametrize(("text", "expected"), HETERONYM_VOTES)
def test_a_fed_heteronym_reading_against_three_opinions(auditor, g2p, text, expected):
    flags = auditor.heteronym_flags(g2p.phonemize(text))
    assert {f.word: f.rule for f in flags} == expected
    assert all("en_core_web_md" in f.detail and "gruut" in f.detail for f in flags)


PERFECTS = [
    # a form of "have" is the verb's auxiliary: a past participle (ɛ), however the taggers vote
    ("By noon we had [read](/ɹˈid/) the letter twice.", {"read": G2P_HETERONYM_DISPUTED}),
    ("“I’ve so often [read](/ɹˈid/) in the newspapers,” she said.", {"read": G2P_HETERONYM_DISPUTED}),
    ("The rope had [wound](/wˈund/) itself round the post.", {"wound": G2P_HETERONYM_DISPUTED}),
    ("She has [read](/ɹˈɛd/) every book in the house.", {}),
]


@pytest.mark.parametrize(("text", "expected"), PERFECTS)
def test_the_verb_of_a_perfect_is_read_as_a_past_participle(auditor, g2p, text, expected):
    flags = auditor.heteronym_flags(g2p.phonemize(text))
    assert {f.word: f.rule for f in flags} == expected
    assert all("grammar" in f.detail for f in flags)


def test_perfect_participles_come_from_the_parse():
    from pipeline.tts.g2p import perfect_participles

    found = perfect_participles("By noon we had read the letter, I'd read it too, and they have wound it.")
    assert [token for token, is_perfect in found if is_perfect] == ["read", "wound"]  # not after "'d"


def test_the_second_tagger_reads_with_misakis_own_lexicon(g2p):
    """The tagged G2P differs from misaki only in its tagger: same lexicon, same phonemes
    wherever the two taggers agree."""
    from pipeline.tts.g2p import G2P

    tagged = G2P("a", tagger="en_core_web_md")
    tagged.setup()
    text = "Alice was beginning to get very tired of sitting by her sister on the bank."
    assert tagged.phonemize(text).phonemes == g2p.phonemize(text).phonemes
    assert tagged._g2p.nlp.meta["name"] == "core_web_md" and g2p._g2p.nlp.meta["name"].startswith("core_web_sm")
    with pytest.raises(ValueError, match="English only"):
        G2P("e", tagger="en_core_web_md").setup()


FRENCH_LINE = "So she began again: “Où est ma chatte?” which was the first sentence in her French lesson-book."


@pytest.mark.parametrize("foreign_readings", [True, False])
def test_a_run_of_french_is_read_by_espeak_ng_in_french(g2p, foreign_readings):
    """The run's words are fed espeak-ng's French reading (misaki's: "chatte" ``ʧˈæt``); the
    label keeps its words and every English word keeps misaki's phonemes. Opted out, the flags
    are findings and misaki's reading stays."""
    from pipeline.chunking import word_phonemes

    audit = G2PAuditor(g2p, second_opinion=False, foreign_readings=foreign_readings)
    audit.setup()
    text, phonemized, flags = audit.audit_and_fix(FRENCH_LINE)
    assert text == FRENCH_LINE
    foreign = [f for f in flags if f.rule == G2P_FOREIGN_READING]
    assert [f.word for f in foreign] == ["Où", "est", "ma", "chatte"]
    assert all(f.fixed is foreign_readings and "espeak-ng fr-fr" in f.detail for f in foreign)
    assert next(f for f in foreign if f.word == "chatte").phonemes == "ʧˈæt"  # misaki's, before the fix
    fed = word_phonemes(FRENCH_LINE.split(), phonemized)
    plain = word_phonemes(FRENCH_LINE.split(), g2p.phonemize(FRENCH_LINE))
    if foreign_readings:
        assert fed[4:8] == ("“ˈu", "ˈɛ", "ma", "ʃˈat?”")
    else:
        assert fed == plain
    assert fed[:4] == plain[:4] and fed[8:] == plain[8:]


def test_english_text_has_no_foreign_reading(auditor, g2p):
    for text in ("He flew to Los Angeles on Monday.", "“Tut, tut, child!” said the Duchess.", BOOK):
        assert not [f for f in auditor.audit_and_fix(text)[2] if f.rule == G2P_FOREIGN_READING]


def test_lower_words_touches_whole_words_only():
    assert lower_words("ME, MEN and ME'S ME", {"ME"}) == "me, MEN and ME'S me"


BOOK = """\
CHAPTER I.
The Bottle

It was all very well to say DRINK ME, but the wise little Alice was not going to do that in a hurry.
"""


def test_all_caps_word_is_fixed_at_generate_time(tmp_path):
    book = tmp_path / "bottle.txt"
    book.write_text(BOOK, encoding="utf-8")
    work = tmp_path / "work"
    args = ["generate", "--book", str(book), "--work-dir", str(work), "--workers", "1", "--no-db"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "g2p.letter_spelling.fixed 1" in " ".join(result.output.split())
    records = {r.chunk_index: r for r in Manifest.for_dataset(work / "datasets" / "main").records()}
    text = next(r for r in records.values() if "DRINK ME" in r.text)
    assert text.text.startswith("It was all very well to say DRINK ME,")  # the label keeps the book's words
    assert "dɹˈɪŋk mˌi" in text.phonemes and "ɛmˈi" not in text.phonemes
    assert [(f["rule"], f["word"], f["fixed"]) for f in text.g2p_flags] == [(G2P_LETTER_SPELLING, "ME", True)]
    # Kokoro's predicted time for every label word, in order, inside the clip
    times = text.word_times
    assert [t["word"] for t in times] == text.text.split()
    assert all(0 <= t["start_s"] < t["end_s"] <= text.duration_s for t in times)
    assert all(a["end_s"] <= b["start_s"] for a, b in zip(times, times[1:], strict=False))
    me = next(t for t in times if t["word"] == "ME,")
    assert me["phonemes"].startswith("mˌi")
    # --keep-caps: the letters again, under another clip id (a fix changes the id, so reruns redo it)
    kept = CliRunner().invoke(app, [*args[:-1], "--dataset", "caps", "--keep-caps", "--no-db"], catch_exceptions=False)
    assert kept.exit_code == 0, kept.output
    caps = next(r for r in Manifest.for_dataset(work / "datasets" / "caps").records() if "DRINK ME" in r.text)
    assert "ˌɛmˈi" in caps.phonemes
    assert [(f["rule"], f["fixed"]) for f in caps.g2p_flags] == [(G2P_LETTER_SPELLING, False)]
    assert caps.id != text.id
