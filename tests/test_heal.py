"""Heal end to end on real Kokoro audio (embedded ONNX) validated by the embedded Whisper base
(``--engines primary``), rows in Postgres, through the library API and the CLI:

* a chunk whose audio repeats a phrase its label says once (the fault injection of
  ``benchmarks/detection.py``: audio synthesized from an edited text) is healed, and the selected
  clip passes; the split rung's halves join to the label exactly;
* export after heal ships exactly one take per chunk and voice, in book order;
* a rerun of heal changes nothing;
* a chunk that cannot pass (every clip fails the speaker check: threshold 0.999) ends in the
  reject pile with its attempts, after a heal stopped between synthesis and validation was rerun
  and lost nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import soundfile as sf
from helpers.cpu import WITHOUT_AVX512
from typer.testing import CliRunner

from pipeline.jobs import GenerateRequest, ValidateRequest, generate, validate
from pipeline.jobs.heal import HealRequest, heal
from pipeline.jobs.reporting import LogReporter
from pipeline.manifest import Manifest
from pipeline.settings import Settings
from pipeline.tts.engine import build_engine

FIRST = "Alice was not a bit hurt, and she jumped up on to her feet in a moment."
SECOND = "She looked up, but it was all dark overhead."
SPOKEN = "Alice was not a bit hurt, and she jumped up on to her feet in a moment in a moment."
BOOK = f"CHAPTER I.\n\n{FIRST}\n\n{SECOND}\n"


def _settings(work: Path, url: str, **extra) -> Settings:
    return Settings(
        work_dir=work, database_url=url, mos_mode="none", voices=["af_heart"], headings="drop", workers=1,
        target_seconds=6, **extra,
    )  # fmt: skip


def _rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _inject_fault(settings: Settings, dataset_dir: Path, spoken: str = SPOKEN) -> None:
    """Chunk 1's wav becomes speech of an edited text; its label stays the book's words."""
    manifest = Manifest.for_dataset(dataset_dir)
    record = next(r for r in manifest.records() if r.chunk_index == 1)
    engine = build_engine(settings)
    engine.setup()
    sf.write(dataset_dir / record.wav_path, engine.synthesize_text(spoken, voice="af_heart").audio, 24_000)
    engine.teardown()
    digest = hashlib.sha256((dataset_dir / record.wav_path).read_bytes()).hexdigest()
    manifest.append([replace(record, file_hash=digest)])


@pytest.fixture(scope="module")
def healed(tmp_path_factory, database_url):
    work = tmp_path_factory.mktemp("heal")
    settings = _settings(work, database_url)
    book = work / "passage.txt"
    book.write_text(BOOK, encoding="utf-8")
    generate(GenerateRequest(book=book, dataset="healme", chapters="1"), settings)
    dataset_dir = settings.datasets_dir / "healme"
    _inject_fault(settings, dataset_dir)
    validated = validate(ValidateRequest(source=dataset_dir, dataset="healme", engines="primary"), settings)
    before = {Path(r.clip.path).stem: r.verdicts.summary.keep for r in validated.results}
    request = HealRequest(dataset="healme", ladder=("split", "speed"), engines="primary")
    report = heal(request, settings)
    return settings, database_url, before, report, request


def test_the_faulty_chunk_is_healed_and_its_selected_take_passes(healed) -> None:
    _, url, before, report, _ = healed
    assert before == {"chunk_00001": False, "chunk_00002": True}
    assert report.before.covered == 1 and report.after.covered == report.after.chunks == 2
    assert report.healed == [("passage", "af_heart", 1)] and report.rejects == []
    selected = _rows(
        url, "select attempt, keep, heal_step from audio_quality where dataset = 'healme' and chunk_index = 1"
        " and selected",
    )  # fmt: skip
    assert selected and all(attempt >= 1 and keep for attempt, keep, _ in selected)
    runs = _rows(url, "select status, counts->>'covered_after' from runs where command = 'heal' and dataset = 'healme'")
    assert runs == [("ok", "2")]


def test_split_halves_join_to_the_label_exactly(healed) -> None:
    _, url, *_ = healed
    halves = _rows(
        url, "select chunk_part, text, path from audio_quality where dataset = 'healme' and heal_step = 'split'"
        " order by chunk_part",
    )  # fmt: skip
    assert [h[0] for h in halves] == ["a", "b"]
    assert f"{halves[0][1]} {halves[1][1]}" == FIRST
    assert [Path(h[2]).name for h in halves] == ["chunk_00001a.try1.wav", "chunk_00001b.try1.wav"]


def test_export_after_heal_ships_one_take_per_chunk_and_voice_in_book_order(healed, tmp_path) -> None:
    from cli import app

    settings, url, *_ = healed
    out = tmp_path / "export"
    result = CliRunner().invoke(
        app,
        ["export", "--dataset", "healme", "--format", "jsonl", "--out", str(out), "--column", "chunk_index,chunk_part",
         "--work-dir", str(settings.work_dir)],
        env={"DATABASE_URL": url},
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    by_chunk: dict[int, list[dict]] = {}
    for line in lines:
        by_chunk.setdefault(line["chunk_index"], []).append(line)
    assert list(by_chunk) == [1, 2]  # book order
    for index, label in ((1, FIRST), (2, SECOND)):
        clips = by_chunk[index]
        parts = [c["chunk_part"] for c in clips]
        assert parts in ([None], ["a", "b"])  # one whole clip, or one split take
        assert " ".join(c["text"] for c in clips) == label


def test_a_rerun_of_heal_changes_nothing(healed) -> None:
    settings, url, _, _, request = healed
    manifest = Manifest.for_dataset(settings.datasets_dir / "healme")
    lines_before = manifest.path.read_text(encoding="utf-8").count("\n")
    state = "select file_hash, selected, keep from audio_quality where dataset = 'healme' order by file_hash"
    rows_before = _rows(url, state)
    again = heal(request, settings)
    assert (again.rounds, again.attempts_made, again.validated) == (0, 0, 0)
    assert again.after == again.before
    assert _rows(url, state) == rows_before
    assert manifest.path.read_text(encoding="utf-8").count("\n") == lines_before


def test_a_weak_word_heard_as_another_word_is_said_with_stress(tmp_path, database_url) -> None:
    """Kokoro's weak "he" heard as "you" (here: the chunk's audio says "you"): the stress rung
    re-makes the chunk with "he" fed with primary stress, every other phoneme as before."""
    settings = _settings(tmp_path, database_url)
    label = "It was as if he were trying which word sounded best."
    book = tmp_path / "weak.txt"
    book.write_text(f"CHAPTER I.\n\n{label}\n", encoding="utf-8")
    generate(GenerateRequest(book=book, dataset="weak", chapters="1"), settings)
    dataset_dir = settings.datasets_dir / "weak"
    _inject_fault(settings, dataset_dir, label.replace(" he ", " you "))
    validate(ValidateRequest(source=dataset_dir, dataset="weak", engines="primary"), settings)
    report = heal(HealRequest(dataset="weak", ladder=("stress",), max_attempts=1, engines="primary"), settings)
    assert report.healed == [("weak", "af_heart", 1)]
    takes = _rows(
        database_url, "select attempt, heal_step, keep, selected, phonemes from audio_quality"
        " where dataset = 'weak' and n_words is not null order by attempt",  # not the row the fault replaced
    )  # fmt: skip
    (_, _, base_keep, base_selected, fed), (attempt, step, keep, selected, fed_again) = takes
    assert (base_keep, base_selected) == (False, False) and (attempt, step, keep, selected) == (1, "stress", True, True)
    assert fed_again.replace("ˈ", "") == fed.replace("ˈ", "") and fed_again.count("ˈ") == fed.count("ˈ") + 1
    he = _rows(
        database_url, "select w.fed_phonemes, w.verdict from audio_words w"
        " join audio_quality q using (file_hash, dataset) where w.dataset = 'weak' and q.attempt = 1"
        " and w.label_word = 'he'",
    )  # fmt: skip
    assert he == [("hˈi", "pass")]


def test_a_word_the_g2p_misreads_is_fed_espeaks_reading(tmp_path, database_url) -> None:
    """misaki reads "Ugh" ``ˈʌh`` and both recognizers hear another word; the respell rung feeds
    espeak-ng's ``ˈʌɡ`` for that word only, and the new take is kept."""
    settings = _settings(tmp_path, database_url)
    book = tmp_path / "ugh.txt"
    book.write_text("CHAPTER I.\n\n“Ugh!” said the Lory, with a shiver.\n", encoding="utf-8")
    generate(GenerateRequest(book=book, dataset="ugh", chapters="1"), settings)
    validate(ValidateRequest(source=settings.datasets_dir / "ugh", dataset="ugh", engines="both"), settings)
    report = heal(HealRequest(dataset="ugh", ladder=("respell",), max_attempts=1, engines="both"), settings)
    assert report.healed == [("ugh", "af_heart", 1)]
    takes = _rows(
        database_url, "select q.attempt, q.heal_step, q.keep, q.selected, w.fed_phonemes, q.phonemes"
        " from audio_quality q join audio_words w using (file_hash, dataset)"
        " where q.dataset = 'ugh' and w.label_word = '“Ugh!”' order by q.attempt",
    )  # fmt: skip
    (_, _, keep, selected, fed, phonemes), (attempt, step, kept, chosen, fed_again, phonemes_again) = takes
    assert (keep, selected, fed) == (False, False, "“ˈʌh!”")
    assert (attempt, step, kept, chosen, fed_again) == (1, "respell", True, True, "“ˈʌɡ!”")
    assert phonemes_again == phonemes.replace("ˈʌh", "ˈʌɡ", 1)  # every other phoneme as before


@pytest.mark.xfail(
    WITHOUT_AVX512,
    reason="on a CPU without AVX-512 the respelled French attempt is not heard as kept (other wav bytes; stop 32)",
    strict=False,
)
def test_words_of_another_language_are_respelled_in_that_language(tmp_path, database_url) -> None:
    """Generated without the audit's foreign readings (``foreign_g2p`` off), misaki reads the
    French "chatte" as English (``ʧˈæt``) and the clip is not kept. A heal that only changes the
    speed leaves it in the reject pile, whose words say what Kokoro was fed and what each engine
    wrote; the respell rung then feeds espeak-ng's French reading of the whole run (a failing
    word of it brings the rest along: "chatte" read in French after "Où est ma" in English is
    heard as neither), and Whisper base, listening again in French, hears it: the chunk is healed."""
    from pipeline.heal.rejects import reject_pile
    from pipeline.store.store import Store

    settings = _settings(tmp_path, database_url, foreign_g2p=False)
    book = tmp_path / "chatte.txt"
    book.write_text(
        "CHAPTER I.\n\nSo she began again: “Où est ma chatte?” which was the first sentence.\n", encoding="utf-8"
    )
    generate(GenerateRequest(book=book, dataset="chatte", chapters="1"), settings)
    validate(ValidateRequest(source=settings.datasets_dir / "chatte", dataset="chatte", engines="both"), settings)
    heal(HealRequest(dataset="chatte", ladder=("speed",), max_attempts=1, engines="both"), settings)
    (reject,) = reject_pile(Store.from_settings(settings), "chatte")
    assert reject.words and all(w.fed and w.heard.keys() == {"whisper", "whisper-tiny"} for w in reject.words)
    chatte = next(w for w in reject.words if w.word == "chatte?”")
    assert chatte.fed == "ʧˈæt?”" and chatte.describe().startswith("chatte?” (fed ʧˈæt?”; whisper: ")

    heal(HealRequest(dataset="chatte", ladder=("respell",), max_attempts=2, engines="both"), settings)
    fed = dict(
        _rows(
            database_url,
            "select q.attempt, w.fed_phonemes from audio_quality q join audio_words w"
            " using (file_hash, dataset) where q.dataset = 'chatte' and w.label_word = 'chatte?”'",
        )  # fmt: skip
    )
    assert fed[0] == "ʧˈæt?”" and fed[2] == "ʃˈat?”"
    selected = _rows(database_url, "select attempt, keep from audio_quality where dataset = 'chatte' and selected")
    assert selected == [(2, True)]
    assert reject_pile(Store.from_settings(settings), "chatte") == []


class _StopBeforeValidating(LogReporter):
    """Stands for a kill between an attempt's synthesis and its validation."""

    def start(self, phase: str, total: int, audio_total_s: float = 0.0) -> None:
        if phase == "validate":
            raise KeyboardInterrupt("stopped")


def test_a_chunk_that_cannot_pass_lands_in_the_reject_pile_with_its_attempts(healed, tmp_path) -> None:
    pytest.importorskip("resemblyzer")
    from cli import app

    base, database_url, *_ = healed
    # Another voice (so healme's clips are other takes, not the same bytes) and every clip fails
    # the speaker check.
    settings = base.model_copy(update={"speaker_min_similarity": 0.999, "voices": ["am_michael"]})
    book = tmp_path / "passage.txt"
    book.write_text(BOOK, encoding="utf-8")
    generate(GenerateRequest(book=book, dataset="hopeless", chapters="1"), settings)
    dataset_dir = settings.datasets_dir / "hopeless"
    validate(ValidateRequest(source=dataset_dir, dataset="hopeless", engines="primary"), settings)
    request = HealRequest(dataset="hopeless", ladder=("speed", "split"), max_attempts=1, engines="primary")
    with pytest.raises(KeyboardInterrupt):
        heal(request, settings, _StopBeforeValidating())
    heal_runs = "select status from runs where command = 'heal' and dataset = 'hopeless' order by run_id"
    assert _rows(database_url, heal_runs) == [("failed",)]
    pending = "select count(*) from audio_quality where dataset = 'hopeless' and attempt = 1 and n_words is null"
    assert _rows(database_url, pending) == [(2,)]  # synthesized and stored, not validated

    report = heal(request, settings)  # the rerun validates the attempts; --max-attempts 1 ends the ladder
    assert (report.attempts_made, report.validated) == (0, 2)
    assert report.rejects == [("passage", "am_michael", 1), ("passage", "am_michael", 2)]
    assert report.after.covered == 0 and report.after.attempts == 2
    assert _rows(database_url, heal_runs) == [("failed",), ("ok",)]
    assert sorted(p.name for p in dataset_dir.rglob("chunk_*.wav")) == [
        "chunk_00001.try1.wav", "chunk_00001.wav", "chunk_00002.try1.wav", "chunk_00002.wav",
    ]  # fmt: skip
    one_take = "select count(*) filter (where selected), count(*) filter (where selected is null)"
    assert _rows(database_url, f"{one_take} from audio_quality where dataset = 'hopeless'") == [(2, 0)]

    out = tmp_path / "rejects.csv"
    args = ["export", "--dataset", "hopeless", "--rejects", "--format", "csv", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--work-dir", str(settings.work_dir)], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    first, second = list(csv.DictReader(out.open(encoding="utf-8")))
    assert (first["label"], second["label"]) == (FIRST, SECOND)
    assert first["chunk"] == "chunk_00001" and first["voice"] == "am_michael"
    assert first["attempts"] == "1" and "speaker_drift" in first["reasons"]
    assert first["heard"].startswith("whisper: ") and len(first["paths"].split(" | ")) == 2
    out_jsonl = tmp_path / "rejects.jsonl"
    args = ["export", "--dataset", "hopeless", "--rejects", "--format", "jsonl", "--out", str(out_jsonl)]
    result = CliRunner().invoke(app, [*args, "--work-dir", str(settings.work_dir)], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    entry = json.loads(out_jsonl.read_text(encoding="utf-8").splitlines()[0])
    assert [t["step"] for t in entry["tried"]] == ["generate", "speed"]
    assert all("speaker_drift" in t["reasons"] for t in entry["tried"])

    # Best of several sources: healme's kept clip (voice af_heart) of the second sentence covers it here.
    mixed = heal(replace(request, candidates=("healme",)), settings)
    assert mixed.candidates >= 1 and ("passage", "am_michael", 2) not in mixed.rejects
    assert mixed.after.attempts == 2  # candidates are no re-syntheses
    chosen = _rows(
        database_url, "select heal_step, keep, metadata->>'candidate_from', text from audio_quality"
        " where dataset = 'hopeless' and chunk_index = 2 and selected",
    )  # fmt: skip
    assert chosen == [("candidate", True, "healme", SECOND)]
    assert heal(replace(request, candidates=("healme",)), settings).candidates == 0  # imported once
