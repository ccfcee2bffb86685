"""``validate`` on real Kokoro speech with the embedded Whisper pair (base + tiny.en)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from cli import app
from judges.registry import build_asr
from pipeline.jobs.validate import run_validation
from pipeline.settings import Settings
from pipeline.sources import discover
from pipeline.store.columns import WORD_COLUMNS
from pipeline.store.rows import validation_groups, word_rows
from pipeline.tts.engine import build_engine
from verdicts import Thresholds

SPOKEN = {
    "match": "The cat sat quietly on the warm mat near the old red barn.",
    "swapped": "The dog sat quietly on the warm mat near the old red barn.",
    "dropped": "The cat sat quietly on the warm mat near the red barn.",
}
LABELS = {
    "match": SPOKEN["match"],
    "swapped": SPOKEN["match"],  # label says "cat", audio says "dog"
    "dropped": SPOKEN["match"],  # label has "old", audio lacks it
}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, settings) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    engine = build_engine(settings)
    engine.setup()
    for name, text in SPOKEN.items():
        result = engine.synthesize_text(text, voice="af_heart")
        sf.write(folder / f"{name}.wav", result.audio, 24_000, subtype="PCM_16")
        (folder / f"{name}.txt").write_text(LABELS[name], encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def judges(settings):
    return build_asr("whisper", settings), build_asr("whisper-tiny", settings)


def validate(clip_dir: Path, judges, engines="both", mode="batch"):
    clips, issues = discover(clip_dir, "t", clip_dir / ".cache")
    report = run_validation(
        clips, primary=judges[0], secondary=judges[1], engines=engines, mode=mode, thresholds=Thresholds()
    )
    return {Path(r.clip.path).stem: r for r in report.results}, issues


def test_matching_label_passes(clip_dir, judges):
    results, _ = validate(clip_dir, judges)
    match = results["match"]
    assert match.error is None
    counts = match.verdicts.summary.counts
    assert counts["tts_failure"] == 0 and counts["ambiguous"] == 0
    assert match.verdicts.summary.keep is True
    assert match.primary.text and match.secondary.text
    assert all(w.start is not None and w.confidence is not None for w in match.primary.words)


@pytest.mark.parametrize(("clip", "word"), [("swapped", "cat"), ("dropped", "old")])
def test_label_that_differs_from_the_audio_is_flagged_on_that_word(clip_dir, judges, clip, word):
    results, _ = validate(clip_dir, judges)
    verdicts = results[clip].verdicts
    flagged = [w for w in verdicts.words if w.verdict in ("tts_failure", "ambiguous")]
    assert [w.label_word for w in flagged] == [word], [(w.label_word, w.verdict, w.rule) for w in verdicts.words]
    assert verdicts.summary.keep is False
    assert verdicts.summary.adjusted_wer == pytest.approx(1 / verdicts.summary.n_words)


@pytest.mark.parametrize("engines", ["both", "cascade"])
def test_batch_and_stream_modes_give_identical_rows(clip_dir, judges, engines):
    def strip_timing(result):
        groups = validation_groups(result)
        for group in groups.values():
            for key in [k for k in group if k.endswith("_ms")]:
                group.pop(key)
        words = word_rows(result)
        assert all(tuple(row) == WORD_COLUMNS for row in words)  # the order COPY and the digest use
        return groups, words

    batch, _ = validate(clip_dir, judges, engines, "batch")
    stream, _ = validate(clip_dir, judges, engines, "stream")
    assert batch.keys() == stream.keys()
    for name in batch:
        assert strip_timing(batch[name]) == strip_timing(stream[name]), name


def test_asr_worker_processes_give_identical_rows(clip_dir, judges):
    """Transcription stages mapped over two spawned worker processes (one engine copy each)
    give the same rows as the in-process run."""
    from pipeline.runner import LocalRunner

    def rows(report):
        out = {}
        for result in report.results:
            groups = validation_groups(result)
            for group in groups.values():
                for key in [k for k in group if k.endswith("_ms")]:
                    group.pop(key)
            out[Path(result.clip.path).stem] = (groups, word_rows(result))
        return out

    clips, _ = discover(clip_dir, "t", clip_dir / ".cache")
    kwargs = dict(primary=judges[0], secondary=judges[1], engines="both", mode="batch", thresholds=Thresholds())
    in_process = run_validation(clips, **kwargs)
    with_workers = run_validation(clips, asr_runner=LocalRunner(2), **kwargs)
    assert len(with_workers.results) == len(clips)
    assert rows(with_workers) == rows(in_process)


def test_local_asr_workers_only_for_whisper_on_cpu_in_batch_mode():
    from pipeline.jobs.validate import local_asr_workers

    cpu = Settings(asr_device="cpu", workers=2)
    assert local_asr_workers(cpu, "batch", 36, ["whisper", "whisper-tiny"]) == 2
    assert local_asr_workers(cpu, "batch", 5, ["whisper"]) == 1  # too few clips to pay for spawning
    assert local_asr_workers(cpu, "stream", 36, ["whisper"]) == 1
    assert local_asr_workers(cpu, "batch", 36, ["whisper", "parakeet"]) == 1  # multi-GB engines stay single
    assert local_asr_workers(Settings(asr_device="cuda", workers=2), "batch", 36, ["whisper"]) == 1
    assert local_asr_workers(Settings(asr_device="cpu", workers=2, runner="ray"), "batch", 36, ["whisper"]) == 1


def test_cascade_escalates_only_what_crosses_the_thresholds(clip_dir, judges):
    results, _ = validate(clip_dir, judges, "cascade")
    for result in results.values():
        assert (result.secondary is not None) == result.escalated
        if result.escalated:
            assert result.escalation_reason
    assert results["swapped"].escalated, "a wrong word pushes primary WER over 5 %"


def test_bad_inputs_become_issues_or_error_rows(tmp_path, clip_dir, judges):
    folder = tmp_path / "bad"
    (folder / "nested").mkdir(parents=True)
    audio, rate = sf.read(clip_dir / "match.wav", dtype="float32")
    # stereo 48 kHz copy of real speech, label as cp1252 (not UTF-8)
    stereo = np.repeat(np.interp(np.arange(0, len(audio), 0.5), np.arange(len(audio)), audio)[:, None], 2, axis=1)
    sf.write(folder / "nested" / "stereo48k.wav", stereo, 48_000, subtype="PCM_16")
    (folder / "nested" / "stereo48k.txt").write_bytes(SPOKEN["match"].replace("warm", "warm").encode("cp1252"))
    (folder / "latin.txt").write_bytes("Café à la carte".encode("latin-1"))  # txt without wav
    sf.write(folder / "nolabel.wav", audio, rate)  # wav without txt
    sf.write(folder / "empty.wav", np.zeros(0, dtype=np.float32), 24_000)
    (folder / "empty.txt").write_text("Nothing at all.")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    (folder / "corrupt.txt").write_text("Broken file.")

    results, issues = validate(folder, judges)
    assert [(Path(i.path).name, i.problem) for i in issues] == [("latin.txt", "label without a .wav")]
    assert results["stereo48k"].error is None
    assert results["stereo48k"].verdicts.summary.counts["tts_failure"] == 0
    # a wav with no label at all is unlabeled audio, not an error: no ASR, no verdicts
    nolabel = results["nolabel"]
    assert nolabel.error is None and nolabel.verdicts is None and nolabel.primary is None
    assert validation_groups(nolabel)["verdicts"]["labeled"] is False
    assert results["empty"].error and "empty" in results["empty"].error
    assert results["corrupt"].error and "decode" in results["corrupt"].error
    for name in ("empty", "corrupt"):
        assert validation_groups(results[name])["verdicts"]["validate_error"]
        assert validation_groups(results[name])["verdicts"]["labeled"] is True


def test_hf_dataset_input(tmp_path, clip_dir, judges):
    from datasets import Audio, Dataset

    data = Dataset.from_dict({"speech": [str(clip_dir / "match.wav")], "sentence": [LABELS["match"]]}).cast_column(
        "speech", Audio(decode=False)
    )
    data.save_to_disk(str(tmp_path / "hf"))
    clips, issues = discover(tmp_path / "hf", "hf", tmp_path / "cache", audio_column="speech", text_column="sentence")
    assert not issues and len(clips) == 1 and clips[0].text == LABELS["match"]
    report = run_validation(
        clips, primary=judges[0], secondary=None, engines="primary", mode="batch", thresholds=Thresholds()
    )
    assert report.results[0].verdicts.summary.counts["tts_failure"] == 0


def test_validate_cli_fills_the_store(clip_dir, database_url, monkeypatch, tmp_path):
    import psycopg

    monkeypatch.setenv("DATABASE_URL", database_url)
    args = ["validate", str(clip_dir), "--dataset", "cli", "--engines", "both", "--work-dir", str(tmp_path)]
    for _ in range(2):  # rerun: same rows, no duplicates
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert "pass rate" in result.output
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select path, n_words, n_tts_failure, keep, primary_engine, secondary_engine from audio_quality"
            " where dataset = 'cli' order by path"
        ).fetchall()
        label_rows = dict(
            conn.execute(
                "select file_hash, count(*) from audio_words where dataset='cli' and word_index >= 0 group by 1"
            )
        )
        n_words = dict(conn.execute("select file_hash, n_words from audio_quality where dataset='cli'"))
    assert [r[0] for r in rows] == ["dropped.wav", "match.wav", "swapped.wav"]
    assert [r[3] for r in rows] == [False, True, False]
    assert rows[1][2] == 0, "the matching clip has no tts_failure"
    assert all(r[4] == "whisper" and r[5] == "whisper-tiny" for r in rows)
    assert label_rows == n_words, "one audio_words row per label word"


@pytest.fixture(scope="module")
def mos_judges(settings):
    from judges.mos import build_mos_judges

    judges, skipped = build_mos_judges(["dnsmos", "distillmos", "utmosv2"], settings)
    assert [j.info.name for j in judges] == ["dnsmos", "distillmos"]
    assert "utmosv2" in skipped
    return tuple(judges)


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_mos_and_signal_columns(clip_dir, judges, mos_judges, mode):
    from pipeline.stages.quality import MOSPlan

    clips, _ = discover(clip_dir, "t", clip_dir / ".cache")
    plan = MOSPlan("flagged_only", 0.1, 7, mos_judges)
    report = run_validation(
        clips, primary=judges[0], secondary=judges[1], engines="both", mode=mode, thresholds=Thresholds(), mos=plan
    )
    by_name = {Path(r.clip.path).stem: r for r in report.results}
    for name, result in by_name.items():
        groups = validation_groups(result)
        assert groups["signal"]["sample_rate"] == 24_000 and groups["signal"]["rms_db"] < 0
        flagged = result.verdicts.summary.counts["tts_failure"] + result.verdicts.summary.counts["ambiguous"] > 0
        assert ("mos" in groups) == flagged, name
        if flagged:
            mos = groups["mos"]
            assert 1 <= mos["mos_dnsmos_ovrl"] <= 5 and 1 <= mos["mos_distillmos"] <= 5
            assert mos["mos_judges"] == ["dnsmos", "distillmos"]
            assert mos["composite_mos"] == pytest.approx((mos["mos_dnsmos_ovrl"] + mos["mos_distillmos"]) / 2)
            assert mos["mos_seed"] == 7 and set(mos["mos_ms"]) == {"dnsmos", "distillmos"}
    assert "mos" not in validation_groups(by_name["match"])
