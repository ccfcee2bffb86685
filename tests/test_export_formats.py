"""Every export format loaded back by the library that consumes it, on real Alice clips: a tiny
two-chapter book synthesized by ``pipeline generate`` (two voices) and checked by ``pipeline
validate`` (Whisper tiny.en + base), rows in a real Postgres. Splits are sentence-disjoint and the
dataset card's figures are the database's."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from cli import app
from pipeline.export import ExportError, SplitPlan, assign_splits, export_dataset
from pipeline.export.nemo import NEMO_KEYS
from pipeline.export.provenance import book_provenance
from pipeline.store.columns import VERDICT_NAMES

BOOK = """\
CHAPTER I.
Down the Rabbit-Hole

Alice was beginning to get very tired of sitting by her sister on the bank.

Oh dear! Oh dear! I shall be late! Down, down, down.

CHAPTER II.
The Pool of Tears

Curiouser and curiouser! cried Alice.

Just then her head struck against the roof of the hall.
"""
VOICES = ("af_heart", "am_michael")
DATASET = "main"
runner = CliRunner()


@pytest.fixture(scope="module")
def alice(tmp_path_factory, database_url):
    """(work dir, env) after generate + validate of BOOK with two voices."""
    root = tmp_path_factory.mktemp("alice")
    book = root / "alice.txt"  # book id "alice": the card looks its provenance up
    book.write_text(BOOK, encoding="utf-8")
    work = root / "work"
    env = {"DATABASE_URL": database_url, "PIPELINE_WORK_DIR": str(work)}
    voices = [arg for voice in VOICES for arg in ("--voice", voice)]
    result = runner.invoke(
        app, ["generate", "--book", str(book), "--workers", "1", "--target-seconds", "4", *voices], env=env
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["validate", str(work / "datasets" / DATASET), "--dataset", DATASET, "--engines", "both"]
        + ["--primary", "whisper-tiny", "--secondary", "whisper", "--mos-mode", "none"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    return work, env


def db_rows(store, where: str = "true") -> list[dict]:
    with store.connect() as conn:
        query = f"SELECT * FROM audio_quality WHERE dataset = %s AND ({where}) ORDER BY file_hash"
        cur = conn.execute(query, (DATASET,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def export(store, alice, out: Path, **kwargs):
    work, _ = alice
    options = {"where": "keep", "fmt": "hf", "columns": None} | kwargs
    return export_dataset(store, dataset=DATASET, out_dir=out, datasets_dir=work / "datasets", **options)


def wav_of(alice, row) -> tuple[np.ndarray, int]:
    work, _ = alice
    return sf.read(work / "datasets" / DATASET / row["path"], dtype="float32")


# --- hf ---------------------------------------------------------------------------------------


def test_hf_export_decodes_with_load_from_disk(store, alice, tmp_path):
    import datasets

    kept = {r["file_hash"]: r for r in db_rows(store, "keep")}
    assert len(kept) >= 4
    report = export(store, alice, tmp_path / "hf")
    assert report.rows == len(kept) and report.skipped == () and report.splits == {"train": len(kept)}

    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    audio = ds[0]["audio"]  # exactly what a user does first
    expected, rate = wav_of(alice, kept[ds[0]["file_hash"]])
    assert audio["sampling_rate"] == rate == 24_000
    np.testing.assert_allclose(audio["array"], expected, atol=1e-6)
    assert sorted(ds["file_hash"]) == sorted(kept)
    for row in ds:
        assert row["text"] == kept[row["file_hash"]]["text"]
        assert len(row["audio"]["array"]) == round(kept[row["file_hash"]]["duration_s"] * 24_000)

    # The Hub layout: the card's configs point at parquet shards with the audio embedded.
    header = yaml.safe_load((tmp_path / "hf" / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert header["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    shards = sorted((tmp_path / "hf" / "data").glob("train-*.parquet"))
    assert [p.name for p in shards] == ["train-00000-of-00001.parquet"]
    hub = datasets.load_dataset("parquet", data_files={"train": [str(p) for p in shards]}, split="train")
    first = hub[0]["audio"]
    assert first["sampling_rate"] == 24_000 and hub[0]["file_hash"] == ds[0]["file_hash"]
    np.testing.assert_allclose(first["array"], expected, atol=1e-6)


def test_splits_are_sentence_disjoint_and_seeded(store, alice, tmp_path):
    import datasets

    plan = SplitPlan.parse("0.5,0.25,0.25", split_by="sentence", seed=3)
    report = export(store, alice, tmp_path / "a", where=None, split_plan=plan)
    dd = datasets.load_from_disk(str(tmp_path / "a"))
    assert set(dd) == set(report.splits) and sum(report.splits.values()) == len(db_rows(store))
    assert len(report.splits) >= 2
    texts = {split: set(dd[split]["text"]) for split in dd}
    for a in texts:
        for b in texts:
            assert a == b or not texts[a] & texts[b], (a, b)
    # Both voices' readings of a sentence travel together.
    for split in dd:
        voices_per_text = {}
        for text, voice in zip(dd[split]["text"], dd[split]["voice"], strict=True):
            voices_per_text.setdefault(text, set()).add(voice)
        assert all(v == set(VOICES) for v in voices_per_text.values())
    assert dd[next(iter(dd))][0]["audio"]["sampling_rate"] == 24_000
    as_on_the_hub = datasets.load_dataset(str(tmp_path / "a"))  # the parquet shards, through the card's configs
    assert {s: sorted(as_on_the_hub[s]["file_hash"]) for s in dd} == {s: sorted(dd[s]["file_hash"]) for s in dd}
    assert as_on_the_hub["train"][0]["audio"]["sampling_rate"] == 24_000
    again = export(store, alice, tmp_path / "b", where=None, split_plan=plan)
    assert again.splits == report.splits
    assert {s: sorted(datasets.load_from_disk(str(tmp_path / "b"))[s]["file_hash"]) for s in dd} == {
        s: sorted(dd[s]["file_hash"]) for s in dd
    }


def test_split_by_chapter_and_voice(store, alice, tmp_path):
    rows = db_rows(store)
    by_chapter = assign_splits(rows, SplitPlan.parse("0.5,0.5", split_by="chapter", seed=0))
    chapters = {}
    for row in rows:
        chapters.setdefault(row["chapter_index"], set()).add(by_chapter[row["file_hash"]])
    assert all(len(splits) == 1 for splits in chapters.values())
    assert set(by_chapter.values()) == {"train", "test"}
    # Every voice reads every sentence here, so no voice can be held out: all stays in train.
    report = export(store, alice, tmp_path / "v", where=None, fmt="jsonl",
                    split_plan=SplitPlan.parse("0.9,0.05,0.05", split_by="voice"))  # fmt: skip
    assert report.splits == {"train": len(rows)} and report.empty_splits == ("validation", "test")
    facts = json.loads((tmp_path / "v" / "export.json").read_text())
    assert facts["splits"]["empty"] == ["validation", "test"]
    assert "No clips fell in: validation, test" in (tmp_path / "v" / "README.md").read_text()
    lines = (tmp_path / "v" / "metadata.jsonl").read_text().splitlines()
    assert {json.loads(line)["split"] for line in lines} == {"train"}


def test_repeated_sentence_never_crosses_splits():
    rows = [
        {"file_hash": f"h{i}", "text": text, "book": "b", "chapter_index": chapter, "voice": "v"}
        for i, (chapter, text) in enumerate(
            [(c, f"Sentence {c}.{k}") for c in range(1, 9) for k in range(3)] + [(1, "Oh dear!"), (7, "oh  DEAR!")]
        )
    ]
    for split_by in ("sentence", "chapter"):
        for seed in range(5):
            assignment = assign_splits(rows, SplitPlan.parse("0.6,0.2,0.2", split_by=split_by, seed=seed))
            assert assignment["h24"] == assignment["h25"]
            if split_by == "chapter":  # the shared sentence glues chapters 1 and 7 together
                assert {assignment[r["file_hash"]] for r in rows if r["chapter_index"] in (1, 7)} == {assignment["h24"]}
    with pytest.raises(ExportError, match="add up"):
        SplitPlan.parse("0.9,0.2")
    with pytest.raises(ExportError, match="split-by"):
        SplitPlan.parse("0.9,0.1", split_by="book")


# --- nemo, lhotse, ljspeech -------------------------------------------------------------------


def test_nemo_manifest(store, alice, tmp_path):
    kept = {r["file_hash"]: r for r in db_rows(store, "keep")}
    export(store, alice, tmp_path / "nemo", fmt="nemo")
    manifest = tmp_path / "nemo" / "manifest_train.json"
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(kept)
    speakers = json.loads((tmp_path / "nemo" / "speakers.json").read_text())
    assert sorted(speakers) == sorted({r["voice"] for r in kept.values()})
    for line in lines:
        assert set(NEMO_KEYS) <= set(line) and line["offset"] == 0.0
        row = kept[line["file_hash"]]
        assert line["text"] == row["text"] and line["speaker"] == speakers[row["voice"]]
        audio = manifest.parent / line["audio_filepath"]  # NeMo resolves relative paths against the manifest
        assert not Path(line["audio_filepath"]).is_absolute()
        info = sf.info(audio)
        assert line["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-6)
        assert line["duration"] == pytest.approx(row["duration_s"], abs=1e-3)


def test_nemo_combined_offsets_address_each_clip(store, alice, tmp_path):
    kept = {r["file_hash"]: r for r in db_rows(store, "keep")}
    export(store, alice, tmp_path / "nemo", fmt="nemo", combine=True)
    manifest = tmp_path / "nemo" / "manifest_train.json"
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(kept)
    assert len({line["audio_filepath"] for line in lines}) == len({r["voice"] for r in kept.values()})
    for line in lines:
        assert line["audio_filepath"].startswith("audio/combined/train/")
        start = round(line["offset"] * 24_000)
        frames = round(line["duration"] * 24_000)
        piece, _ = sf.read(manifest.parent / line["audio_filepath"], start=start, frames=frames, dtype="float32")
        expected, _ = wav_of(alice, kept[line["file_hash"]])
        np.testing.assert_array_equal(piece, expected)
    with pytest.raises(ExportError, match="--combine"):
        export(store, alice, tmp_path / "x", fmt="hf", combine=True)


def test_lhotse_manifests_load_back(store, alice, tmp_path):
    from lhotse import RecordingSet, SupervisionSet, validate_recordings_and_supervisions

    kept = {r["file_hash"]: r for r in db_rows(store, "keep")}
    plan = SplitPlan.parse("0.5,0.5", seed=1)
    report = export(store, alice, tmp_path / "lh", fmt="lhotse", split_plan=plan)
    total = 0
    for split, count in report.splits.items():
        recordings = RecordingSet.from_file(tmp_path / "lh" / f"recordings_{split}.jsonl.gz")
        supervisions = SupervisionSet.from_file(tmp_path / "lh" / f"supervisions_{split}.jsonl.gz")
        recordings = recordings.with_path_prefix(tmp_path / "lh")
        validate_recordings_and_supervisions(recordings, supervisions)
        assert len(recordings) == len(supervisions) == count
        total += count
        for segment in supervisions:
            row = kept[segment.custom["file_hash"]]
            assert segment.text == row["text"] and segment.speaker == row["voice"]
            audio = recordings[segment.recording_id].load_audio()
            expected, _ = wav_of(alice, row)
            np.testing.assert_allclose(audio[0], expected, atol=1e-6)
    assert total == len(kept)
    with gzip.open(tmp_path / "lh" / f"recordings_{next(iter(report.splits))}.jsonl.gz", "rt") as handle:
        assert json.loads(handle.readline())["sources"][0]["source"].startswith("audio/")


def test_ljspeech_layout(store, alice, tmp_path):
    kept = db_rows(store, "keep")
    export(store, alice, tmp_path / "lj", fmt="ljspeech", sample_rate=16_000)
    with (tmp_path / "lj" / "metadata.csv").open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle, delimiter="|", quoting=csv.QUOTE_NONE))
    assert len(lines) == len(kept) and all(len(line) == 3 for line in lines)
    by_id = {r["path"].removesuffix(".wav").replace("/", "_"): r for r in kept}
    assert sorted(clip_id for clip_id, _, _ in lines) == sorted(by_id)
    for clip_id, text, normalized in lines:
        assert text == by_id[clip_id]["text"] and normalized
        info = sf.info(tmp_path / "lj" / "wavs" / f"{clip_id}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert info.frames / info.samplerate == pytest.approx(by_id[clip_id]["duration_s"], abs=2e-3)
    heading = next(n for _, t, n in lines if t.startswith("CHAPTER II"))
    assert heading.startswith("CHAPTER II")
    with pytest.raises(ExportError, match="sample-rate"):
        export(store, alice, tmp_path / "x", fmt="nemo", sample_rate=16_000)


# --- the card -----------------------------------------------------------------------------------


def test_card_figures_match_the_database(store, alice, tmp_path):
    export(store, alice, tmp_path / "hf", split_plan=SplitPlan.parse("0.5,0.5", split_by="chapter"))
    rows = db_rows(store, "keep")
    facts = json.loads((tmp_path / "hf" / "export.json").read_text(encoding="utf-8"))
    with store.connect() as conn:
        per_voice = conn.execute(
            "SELECT voice, voice_recipe, count(*), sum(duration_s) FROM audio_quality"
            " WHERE dataset = %s AND keep GROUP BY 1, 2",
            (DATASET,),
        ).fetchall()
        verdicts = conn.execute(
            "SELECT " + ", ".join(f"sum(n_{v})" for v in VERDICT_NAMES) + ", sum(n_words)"
            " FROM audio_quality WHERE dataset = %s AND keep",
            (DATASET,),
        ).fetchone()
        tiers = dict(
            conn.execute(
                "SELECT tier, count(*) FROM audio_quality WHERE dataset = %s AND keep GROUP BY 1", (DATASET,)
            ).fetchall()
        )
        total, dropped = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE keep IS NOT TRUE) FROM audio_quality WHERE dataset = %s",
            (DATASET,),
        ).fetchone()
        engines = conn.execute(
            "SELECT DISTINCT primary_engine, primary_model, secondary_engine, secondary_model FROM audio_quality"
            " WHERE dataset = %s AND keep",
            (DATASET,),
        ).fetchall()
    assert {v: (e["recipe"], e["clips"]) for v, e in facts["voices"].items()} == {
        v: (recipe, n) for v, recipe, n, _ in per_voice
    }
    for voice, _, _, seconds in per_voice:
        assert facts["voices"][voice]["seconds"] == pytest.approx(seconds, abs=0.01)
        assert sum(s["clips"] for s in facts["voices"][voice]["splits"].values()) == facts["voices"][voice]["clips"]
    assert facts["totals"]["clips"] == sum(n for *_, n, _ in per_voice)
    assert sum(facts["splits"]["clips"].values()) == facts["totals"]["clips"]
    assert [facts["verdicts"][v] for v in VERDICT_NAMES] + [facts["words"]] == list(verdicts)
    assert facts["selection"]["tiers"] == tiers
    assert facts["selection"]["dataset_clips"] == total and sum(facts["selection"]["left_out"].values()) == dropped
    assert facts["selection"]["rules"] == [
        "the SQL filter `effective_keep` over audio_quality is true",
        "no person rejected the clip in `pipeline review`",
    ]
    assert facts["selection"]["take"].startswith("one take per chunk and voice: where `pipeline heal` ran")
    [(p_engine, p_model, s_engine, s_model)] = engines
    assert facts["validator"]["primary"][0] | {"clips": 0} == {"engine": p_engine, "model": p_model, "clips": 0}
    assert facts["validator"]["secondary"][0]["model"] == s_model
    assert facts["validator"]["runs"][0]["args"]["engines"] == "both"
    assert [(b["id"], b["public_domain"], b["clips"]) for b in facts["books"]] == [("alice", True, len(rows))]
    assert book_provenance("some-book")["public_domain"] is None
    assert facts["tts"][0]["licence"] == "Apache-2.0"
    assert facts["command"].startswith("pipeline export --dataset main --where keep --format hf --out ")
    assert "--splits 0.5,0.5 --split-by chapter --seed 0" in facts["command"]

    card = (tmp_path / "hf" / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "other" and header["task_categories"][0] == "text-to-speech"
    assert {c["split"] for c in header["configs"][0]["data_files"]} == set(facts["splits"]["names"])
    for voice, entry in facts["voices"].items():
        assert f"| {voice} | {entry['recipe']} |" in card and f"{entry['seconds'] / 3600:.3f} h" in card
    assert facts["command"] in card and f"| tts_failure | {facts['verdicts']['tts_failure']} |" in card
    assert "- One take per chunk and voice: where `pipeline heal` ran, its selected take (kept first," in card


# --- bad input through the CLI -------------------------------------------------------------------


def test_cli_bad_input(store, alice, tmp_path):
    work, env = alice
    base = ["export", "--dataset", DATASET, "--where", "keep", "--format", "nemo"]
    out = tmp_path / "cli"

    result = runner.invoke(app, [*base, "--out", str(out), "--splits", "0.8,0.2", "--split-by", "chapter"], env=env)
    assert result.exit_code == 0, result.output
    assert "exported" in result.output and "skipped 0" in result.output
    result = runner.invoke(app, [*base, "--out", str(out)], env=env)
    assert result.exit_code == 2 and "already exists" in result.output

    result = runner.invoke(app, [*base[:3], "--where", "false", "--out", str(tmp_path / "empty")], env=env)
    assert result.exit_code == 2 and "no rows of dataset 'main' match" in result.output
    assert not (tmp_path / "empty").exists()
    result = runner.invoke(app, [*base[:3], "--split-by", "voice", "--out", str(tmp_path / "e2")], env=env)
    assert result.exit_code == 2 and "--split-by needs --splits" in result.output

    # A wav that disappeared: listed, skipped, exit 1 unless --skip-missing.
    victim = db_rows(store, "keep")[0]
    wav = work / "datasets" / DATASET / victim["path"]
    moved = tmp_path / "moved.wav"
    shutil.move(wav, moved)
    try:
        result = runner.invoke(app, [*base, "--out", str(tmp_path / "m1")], env=env)
        assert result.exit_code == 1, result.output
        assert "wav missing" in result.output and victim["path"] in result.output.replace("\n", "")
        assert "--skip-missing" in result.output
        facts = json.loads((tmp_path / "m1" / "export.json").read_text())
        assert [s["file_hash"] for s in facts["selection"]["skipped"]] == [victim["file_hash"]]
        result = runner.invoke(app, [*base, "--out", str(tmp_path / "m2"), "--skip-missing"], env=env)
        assert result.exit_code == 0, result.output
        assert "skipped 1 of" in result.output
    finally:
        shutil.move(moved, wav)
