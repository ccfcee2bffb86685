"""End to end: a small book through ``pipeline generate`` with the real embedded Kokoro model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from cli import app
from pipeline.manifest import Manifest

BOOK = """\
CHAPTER I.
The Test

Alice was beginning to get very tired of sitting by her sister on the bank.
So she was considering in her own mind whether the pleasure of making a daisy-chain
would be worth the trouble of getting up and picking the daisies.

There was nothing so _very_ remarkable in that.
"""

runner = CliRunner()


def run_generate(tmp_path: Path, *extra: str, database_url: str | None = None):
    book = tmp_path / "tiny.txt"
    book.write_text(BOOK, encoding="utf-8")
    args = ["generate", "--book", str(book), "--work-dir", str(tmp_path / "work"), "--workers", "1", *extra]
    if database_url is None:
        args.append("--no-db")
    return runner.invoke(app, args, catch_exceptions=False, env={"DATABASE_URL": database_url})


@pytest.fixture(scope="module")
def generated(tmp_path_factory, database_url):
    tmp_path = tmp_path_factory.mktemp("gen")
    result = run_generate(
        tmp_path, "--voice", "af_heart", "--voice", "af_bella(2)+af_sky(1)", "--combine", database_url=database_url
    )
    assert result.exit_code == 0, result.output
    return tmp_path, result


def test_clips_are_real_speech(generated):
    tmp_path, _ = generated
    dataset_dir = tmp_path / "work" / "datasets" / "main"
    records = Manifest.for_dataset(dataset_dir).records()
    voices = {r.voice for r in records}
    assert voices == {"af_heart", "af_bella(2)+af_sky(1)"}
    assert len(records) == 2 * len({r.chunk_index for r in records})
    for record in records:
        wav = dataset_dir / record.wav_path
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (24_000, 1, "PCM_16")
        audio, _ = sf.read(wav, dtype="float32")
        assert np.sqrt(np.mean(audio**2)) > 0.01, "clip is (nearly) silent"
        assert abs(info.duration - record.duration_s) < 1e-3
        n_words = len(record.text.split())
        # Kokoro speaks ~1.5-4.5 words/s; headings are short but still audible.
        assert 0.5 * n_words / 4.5 <= info.duration <= n_words / 1.0 + 1.5, (record.text, info.duration)
        assert (dataset_dir / record.txt_path).read_text(encoding="utf-8").strip() == record.text
        assert len(record.file_hash) == 64


def test_blend_sounds_different_from_single_voice(generated):
    tmp_path, _ = generated
    dataset_dir = tmp_path / "work" / "datasets" / "main"
    by_voice: dict[str, dict[int, str]] = {}
    for record in Manifest.for_dataset(dataset_dir).records():
        by_voice.setdefault(record.voice, {})[record.chunk_index] = record.file_hash
    assert by_voice["af_heart"] != by_voice["af_bella(2)+af_sky(1)"]


def test_rerun_skips_finished_clips_and_reproduces_audio(generated):
    tmp_path, _ = generated
    manifest_path = tmp_path / "work" / "datasets" / "main" / "manifest.jsonl"
    lines_before = manifest_path.read_text().count("\n")
    result = run_generate(tmp_path, "--voice", "af_heart", "--voice", "af_bella(2)+af_sky(1)")
    assert result.exit_code == 0, result.output
    assert manifest_path.read_text().count("\n") == lines_before, "rerun appended records"
    assert "skipped" in result.output


def test_deleted_clip_is_regenerated_identically(generated):
    tmp_path, _ = generated
    dataset_dir = tmp_path / "work" / "datasets" / "main"
    record = next(r for r in Manifest.for_dataset(dataset_dir).records() if r.voice == "af_heart")
    (dataset_dir / record.wav_path).unlink()
    result = run_generate(tmp_path, "--voice", "af_heart")
    assert result.exit_code == 0, result.output
    again = {r.wav_path: r for r in Manifest.for_dataset(dataset_dir).records()}[record.wav_path]
    assert again.file_hash == record.file_hash, "same input, same model, same seed -> same audio"


def test_manifest_lines_are_complete_records(generated):
    tmp_path, _ = generated
    manifest_path = tmp_path / "work" / "datasets" / "main" / "manifest.jsonl"
    row = json.loads(manifest_path.read_text().splitlines()[0])
    for key in ("id", "wav_path", "txt_path", "text", "voice", "speed", "duration_s", "tts_engine", "gen_ms"):
        assert key in row
    # what Kokoro was fed, split over the label's words: one entry per word, together the whole string
    assert len(row["word_phonemes"]) == len(row["text"].split())
    assert "".join(row["word_phonemes"]).replace(" ", "") == row["phonemes"].replace(" ", "")


@pytest.mark.parametrize(
    ("voice", "message"),
    [("af_hart", "af_heart"), ("af_bella(0)+af_sky", "weight"), ("af_bella++af_sky", "recipe")],
)
def test_bad_voice_is_a_clear_error(tmp_path, voice, message):
    result = run_generate(tmp_path, "--voice", voice, "--limit", "1")
    assert result.exit_code == 2
    assert message in result.output.lower() or message in result.output
    assert "Traceback" not in result.output


def test_bad_book_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n\n")
    result = runner.invoke(app, ["generate", "--book", str(empty), "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert "empty" in result.output.lower()
    missing = runner.invoke(app, ["generate", "--book", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2


def test_generate_upserts_its_rows(generated, database_url):
    import psycopg

    tmp_path, _ = generated
    records = Manifest.for_dataset(tmp_path / "work" / "datasets" / "main").records()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select file_hash, voice, text, duration_s, tts_engine from audio_quality where dataset = 'main'"
        ).fetchall()
        runs = conn.execute("select status, counts->>'rows' from runs where command = 'generate'").fetchall()
    by_hash = {r[0]: r for r in rows}
    assert len(rows) == len(records)
    for record in records:
        _, voice, text, duration, engine = by_hash[record.file_hash]
        assert (voice, text, engine) == (record.voice, record.text, "kokoro-onnx")
        assert duration == pytest.approx(record.duration_s)
    assert runs == [("ok", str(len(records)))]


def test_combined_book_wav_joins_the_clips_in_order(generated):
    from pipeline.jobs.generate import CHUNK_GAP_S

    tmp_path, _ = generated
    dataset_dir = tmp_path / "work" / "datasets" / "main"
    clips = sorted(
        (r for r in Manifest.for_dataset(dataset_dir).records() if r.voice == "af_heart"), key=lambda r: r.chunk_index
    )
    combined, rate = sf.read(dataset_dir / "tiny" / "af_heart" / "tiny.wav", dtype="int16")
    assert rate == 24_000
    assert len(combined) / rate == pytest.approx(sum(r.duration_s + CHUNK_GAP_S for r in clips), abs=0.01)
    first, _ = sf.read(dataset_dir / clips[0].wav_path, dtype="int16")
    assert np.array_equal(combined[: len(first)], first)


def test_each_english_voice_reads_its_own_accent(tmp_path):
    """An American and a British voice in one run: the British voice's clips are phonemized by
    misaki's British G2P (same labels and chunk boundaries), the American's as before; with
    ``g2p_by_voice`` off both read the book's (American) phonemes."""
    from pipeline.jobs import GenerateRequest, generate
    from pipeline.settings import Settings

    book = tmp_path / "dear.txt"
    book.write_text("CHAPTER I.\n\n“Oh dear, the hall is far,” she said.\n", encoding="utf-8")

    def phonemes(work, **extra) -> dict[str, tuple[str, tuple[str, ...]]]:
        settings = Settings(
            work_dir=work, database_url=None, voices=["af_heart", "bf_emma"], headings="drop", workers=1, **extra
        )
        generate(GenerateRequest(book=book, dataset="dear", chapters="1", db=False), settings)
        records = Manifest.for_dataset(settings.datasets_dir / "dear").records()
        return {r.voice: (r.id, tuple(r.word_phonemes), r.text) for r in records}

    accented = phonemes(tmp_path / "by-voice")
    (_, us, us_text), (gb_id, gb, gb_text) = accented["af_heart"], accented["bf_emma"]
    assert us_text == gb_text and len(us) == len(gb)
    assert us[1] == "dˈɪɹ," and gb[1] == "dˈɪə,"  # "dear,": rhotic and not
    assert us[3] == "hˈɔl" and gb[3] == "hˈɔːl"
    plain = phonemes(tmp_path / "one-accent", g2p_by_voice=False)
    assert plain["af_heart"] == accented["af_heart"]  # the American voice is untouched
    assert plain["bf_emma"][1] == us and plain["bf_emma"][0] != gb_id
