"""Keep decisions end to end on real Kokoro audio and the embedded Whisper pair (base + tiny.en),
through ``pipeline generate`` and ``pipeline validate`` (library API, rows into Postgres):

* a clip whose audio repeats a phrase the label says once is not kept, with reason ``insertion``
  and the insertion's label position stored; one whose audio says a short word twice ("think it
  it so") is not kept either, and Whisper base, forced to choose, prefers the label with "it"
  said twice (stored with its transcript; the verdicts count that like extra words heard, which
  tests/test_verdicts_repeats.py covers rule by rule);
* a passage of Alice where both engines write the name "Dinah" another way ("dina", "dino") is
  kept: what they heard is near the phonemes Kokoro was fed for it;
* a clip whose label has one word the audio does not say: both engines, forced to read the
  label, give that word a low probability (stored per label word in ``audio_transcripts``), the
  others a high one, and the word stays a tts_failure;
* Alice's French line, generated (the G2P audit feeds "Où est ma chatte" espeak-ng's French
  reading), is kept: both English engines write letters, but Whisper base, listening again in
  French to the stretch between the English words, hears the French (stored with its
  transcript); synthesized from misaki's English reading ("chatte" as ``ʧˈæt``) and validated
  as outside data (no stored phonemes), it is not kept: validate's stand-in for what was fed is
  what generate would feed, espeak-ng's French ``ʃˈat``, and the engines heard the English word.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import soundfile as sf
from helpers.cpu import WITHOUT_AVX512

from pipeline.jobs import GenerateRequest, ValidateRequest, generate, validate
from pipeline.settings import Settings
from pipeline.tts.engine import build_engine

# Alice, chapter 1: the passage where the dozing Alice talks to her cat.
NAME_PASSAGE = (
    "She felt that she was dozing off, and had just begun to dream that she was walking hand in hand "
    "with Dinah, and saying to her very earnestly, “Now, Dinah, tell me the truth: did you ever eat a bat?” "
    "when suddenly, thump! thump! down she came upon a heap of sticks and dry leaves, and the fall was over."
)
REPEAT_LABEL = "There was nothing so very remarkable in that; nor did Alice think it so very much out of the way."
# the audio says REPEAT_LABEL; the label says "valuable" where the audio says "remarkable"
# (in curly quotes, as books write them: the engines are forced through it in ASCII typography)
SWAPPED_LABEL = "“" + REPEAT_LABEL.replace("remarkable", "valuable") + "”"
FRENCH_LINE = "So she began again: “Où est ma chatte?” which was the first sentence in her French lesson-book."
REPEAT_WORD_SPOKEN = REPEAT_LABEL.replace("think it so", "think it it so")
REPEAT_SPOKEN = (
    "There was nothing so very remarkable in that; nor did Alice think it so very much out of the way out of the way."
)


@pytest.fixture(scope="module")
def results(tmp_path_factory, database_url):
    work = tmp_path_factory.mktemp("keep_e2e")
    settings = Settings(work_dir=work, database_url=database_url, mos_mode="none", voices=["af_heart"], headings="drop")
    book = work / "passage.txt"
    book.write_text(f"CHAPTER I.\n\n{NAME_PASSAGE}\n", encoding="utf-8")
    generate(GenerateRequest(book=book, dataset="names", chapters="1"), settings)
    french_book = work / "french.txt"
    french_book.write_text(f"CHAPTER I.\n\n{FRENCH_LINE}\n", encoding="utf-8")
    generate(GenerateRequest(book=french_book, dataset="french", chapters="1"), settings)
    folder = work / "faults"
    folder.mkdir()
    engine = build_engine(settings)
    engine.setup()
    sf.write(folder / "repeat.wav", engine.synthesize_text(REPEAT_SPOKEN, voice="af_heart").audio, 24_000)
    (folder / "repeat.txt").write_text(REPEAT_LABEL, encoding="utf-8")
    sf.write(folder / "repeat_word.wav", engine.synthesize_text(REPEAT_WORD_SPOKEN, voice="af_heart").audio, 24_000)
    (folder / "repeat_word.txt").write_text(REPEAT_LABEL, encoding="utf-8")
    sf.write(folder / "swapped.wav", engine.synthesize_text(REPEAT_LABEL, voice="af_heart").audio, 24_000)
    (folder / "swapped.txt").write_text(SWAPPED_LABEL, encoding="utf-8")
    sf.write(folder / "french_english.wav", engine.synthesize_text(FRENCH_LINE, voice="af_heart").audio, 24_000)
    (folder / "french_english.txt").write_text(FRENCH_LINE, encoding="utf-8")
    engine.teardown()
    out = {}
    datasets = settings.datasets_dir
    for source, name in ((datasets / "names", "names"), (datasets / "french", "french"), (folder, "faults")):
        report = validate(ValidateRequest(source=source, dataset=name, engines="both"), settings)
        out |= {(Path(r.clip.path).stem if name == "faults" else f"{name}/{r.clip.path}"): r for r in report.results}
    return out, database_url


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_a_repeated_phrase_is_not_kept(results) -> None:
    clips, url = results
    summary = clips["repeat"].verdicts.summary
    assert summary.keep is False and "insertion" in summary.reasons
    assert summary.adjusted_wer > 0
    keep, reasons, tier = _rows(
        url, "select keep, reject_reasons, tier from audio_quality where dataset = 'faults' and path like '%repeat.wav'"
    )[0]
    assert (keep, tier) == (False, "reject") and "insertion" in reasons
    positions = _rows(
        url,
        "select w.position from audio_words w join audio_quality q using (file_hash, dataset)"
        " where q.dataset = 'faults' and q.path like '%repeat.wav' and w.verdict = 'insertion'",
    )
    n_words = len(REPEAT_LABEL.split())
    # the repeat sits at the end of the label ("... out of the way [out of the way]")
    assert positions and all(n_words - 4 <= p <= n_words for (p,) in positions)


def test_a_short_word_said_twice_is_not_kept_and_heard_twice_when_forced(results) -> None:
    clips, url = results
    result = clips["repeat_word"]
    summary = result.verdicts.summary
    assert summary.keep is False and {"insertion", "ambiguous_insertion"} & set(summary.reasons), summary
    it = REPEAT_LABEL.split().index("it")
    # one row at the place, whether an engine wrote the extra word or only heard it when forced
    (row,) = [i for i in result.verdicts.insertions if i.position in (it, it + 1)]
    assert row.verdict == "insertion", row
    stored = dict(
        _rows(
            url,
            "select t.role, t.repeats from audio_transcripts t join audio_quality q using (file_hash, dataset)"
            " where q.dataset = 'faults' and q.path like '%repeat_word.wav'",
        )
    )
    # Whisper base, forced to choose, hears "it" twice
    assert any(r["first"] == r["last"] == it and r["llr"] > 0 for r in stored["primary"]), stored
    assert stored["secondary"] is not None  # tiny.en was asked too


def test_a_name_heard_with_another_spelling_is_kept(results) -> None:
    clips, url = results
    (result,) = [r for r in clips.values() if r.clip.dataset == "names"]
    summary = result.verdicts.summary
    unexplained = [(w.label_word, w.primary_word, w.secondary_word, w.rule) for w in result.verdicts.words]
    assert summary.keep is True, [u for u in unexplained if not u[3].startswith("pass")]
    dinah = [w for w in result.verdicts.words if "Dinah" in w.label_word]
    assert len(dinah) == 2
    respelled = [w for w in dinah if w.verdict == "spelling_variant"]
    assert respelled, "the engines heard the name as another spelling"
    for word in respelled:
        assert word.rule == "spelling_variant.phonemes_near"
        assert word.fed_phonemes and "dinah" not in {word.primary_word, word.secondary_word}
    stored = _rows(
        url,
        "select keep, reject_reasons, tier, array_length(word_phonemes, 1) from audio_quality where dataset = 'names'",
    )
    assert stored == [(True, [], summary.tier, len(NAME_PASSAGE.split()))]
    assert summary.tier in ("strict", "balanced")
    repeats = _rows(url, "select t.repeats from audio_transcripts t where t.dataset = 'names'")
    assert len(repeats) == 2 and all(r and all(x["llr"] <= 0 for x in r) for (r,) in repeats), repeats


def test_a_word_the_audio_does_not_say_is_improbable_when_forced(results) -> None:
    clips, url = results
    result = clips["swapped"]
    index = SWAPPED_LABEL.split().index("valuable")
    word = result.verdicts.words[index]
    assert (word.label_word, word.verdict) == ("valuable", "tts_failure"), word
    assert result.verdicts.summary.keep is False
    stored = _rows(
        url,
        "select t.role, t.label_probs from audio_transcripts t join audio_quality q using (file_hash, dataset)"
        " where q.dataset = 'faults' and q.path like '%swapped.wav' order by t.role",
    )
    assert [role for role, _ in stored] == ["primary", "secondary"]
    for role, probs in stored:
        assert len(probs) == len(SWAPPED_LABEL.split()), role
        others = sorted(p for i, p in enumerate(probs) if i != index and p is not None)
        assert probs[index] < 0.1 and others[len(others) // 2] > 0.5, (role, probs)


@pytest.mark.xfail(
    WITHOUT_AVX512,
    reason="without AVX-512 the French line read as English is kept (4 stt_error words; other wav bytes)",
    strict=False,
)
def test_a_french_line_read_in_french_is_heard_in_french(results) -> None:
    clips, url = results
    run = range(4, 8)  # “Où est ma chatte?”
    (french,) = [r for r in clips.values() if r.clip.dataset == "french"]
    words = french.verdicts.words
    assert [w.fed_phonemes for w in words[4:8]] == ["“ˈu", "ˈɛ", "ma", "ʃˈat?”"]  # the audit's French reading
    assert french.verdicts.summary.keep, [(w.label_word, w.primary_word, w.rule) for w in words]
    assert {words[i].rule for i in run} & {"stt_error.heard_in_language"}
    assert all(words[i].verdict not in ("tts_failure", "ambiguous", "unverified") for i in run)
    stored = _rows(
        url,
        "select t.role, t.listens from audio_transcripts t join audio_quality q using (file_hash, dataset)"
        " where q.dataset = 'french' order by t.role",
    )
    # Whisper base is multilingual and listens again; tiny.en cannot
    assert stored[0][0] == "primary" and stored[0][1][0]["language"] == "fr"
    assert (stored[0][1][0]["first"], stored[0][1][0]["last"]) == (4, 7)
    assert stored[1] == ("secondary", None)
    (flags,) = _rows(url, "select g2p_flags from audio_quality where dataset = 'french'")[0]
    assert flags.count("g2p.foreign_reading.fixed") == 4

    english = clips["french_english"]
    assert not english.verdicts.summary.keep
    chatte = english.verdicts.words[7]
    assert chatte.label_word == "chatte?”" and chatte.verdict in ("tts_failure", "ambiguous"), chatte
