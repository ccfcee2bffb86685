"""``pipeline export`` against a real Postgres and real wav files: both formats round-trip, the
user's filter runs read-only and fails clearly, missing or changed wavs are skipped and reported."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from cli import app
from pipeline.export import DEFAULT_COLUMNS, ExportError, export_dataset
from pipeline.export.values import hf_list

SR = 24_000
DATASET = "books"


@dataclass
class Clip:
    file_hash: str
    path: str  # as stored in audio_quality: dataset-relative, or absolute
    text: str
    samples: np.ndarray  # int16, what the wav holds
    keep: bool
    tier: str


@dataclass
class Corpus:
    work_dir: Path
    datasets_dir: Path
    clips: dict[str, Clip]  # by file_hash

    @property
    def kept(self) -> list[Clip]:
        return [c for c in self.clips.values() if c.keep]


def write_wav(path: Path, seed: int, seconds: float) -> tuple[np.ndarray, str]:
    """A short sine + noise burst as 24 kHz mono PCM16; returns (samples, sha256 of the file)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    wave = 0.3 * np.sin(2 * np.pi * (180 + 40 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    samples = np.round(wave * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, SR, subtype="PCM_16", format="WAV")
    return samples, hashlib.sha256(path.read_bytes()).hexdigest()


def add_clips(store, datasets_dir: Path, dataset: str, specs: list[dict]) -> dict[str, Clip]:
    """Write the wavs, then upsert generation rows and verdicts the way the stages do."""
    clips: dict[str, Clip] = {}
    generation, verdicts, mos = [], [], []
    for i, spec in enumerate(specs):
        absolute = spec.get("absolute")
        rel = f"alice/{spec['voice']}/chunk_{i + 1:05d}.wav"
        target = Path(absolute) if absolute else datasets_dir / dataset / rel
        samples, file_hash = write_wav(target, seed=spec["seed"], seconds=spec.get("seconds", 0.4))
        path = str(target) if absolute else rel
        clips[file_hash] = Clip(file_hash, path, spec["text"], samples, spec["keep"], spec["tier"])
        generation.append(
            {
                "file_hash": file_hash,
                "dataset": dataset,
                "path": path,
                "text": spec["text"],
                "book": "alice",
                "chapter_index": 1,
                "chunk_index": i + 1,
                "voice": spec["voice"],
                "speed": 1.0,
                "duration_s": samples.size / SR,
                "sample_rate": SR,
                "gen_ms": 12.5,
            }
        )
        verdicts.append(
            {
                "file_hash": file_hash,
                "dataset": dataset,
                "keep": spec["keep"],
                "tier": spec["tier"],
                "adjusted_wer": 0.0 if spec["keep"] else 0.4,
                "n_words": len(spec["text"].split()),
            }
        )
        mos.append(
            {
                "file_hash": file_hash,
                "dataset": dataset,
                "composite_mos": 4.1 - 0.1 * i,
                "mos_judges": ["utmosv2", "dnsmos"],
                "mos_ms": {"utmosv2": 10.5, "dnsmos": 3.25},
            }
        )
    store.upsert("generation", generation)
    store.upsert("verdicts", verdicts)
    store.upsert("mos", mos)
    return clips


@pytest.fixture(scope="module")
def corpus(store, tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("export")
    work_dir = root / "work"
    datasets_dir = work_dir / "datasets"
    specs = [
        {
            "voice": "af_heart",
            "seed": 1,
            "text": "Alice was beginning to get very tired.",
            "keep": True,
            "tier": "strict",
        },
        {
            "voice": "af_heart",
            "seed": 2,
            "text": "So she was considering in her own mind.",
            "keep": False,
            "tier": "reject",
        },
        {
            "voice": "af_bella",
            "seed": 3,
            "text": "There was nothing so very remarkable.",
            "keep": True,
            "tier": "balanced",
        },
        {
            "voice": "af_bella",
            "seed": 4,
            "text": "Oh dear! Oh dear! I shall be late!",
            "keep": False,
            "tier": "permissive",
        },
        # A foreign clip stored with an absolute path, outside the dataset dir.
        {
            "voice": "af_sky",
            "seed": 5,
            "text": "Down, down, down. Would the fall never come to an end?",
            "keep": True,
            "tier": "strict",
            "absolute": str(root / "foreign" / "clip.wav"),
            "seconds": 0.6,
        },
    ]
    clips = add_clips(store, datasets_dir, DATASET, specs)
    # Another dataset in the same table, which no export of DATASET may ever pick up.
    add_clips(
        store, datasets_dir, "other", [{"voice": "am_adam", "seed": 9, "text": "x", "keep": True, "tier": "strict"}]
    )
    return Corpus(work_dir, datasets_dir, clips)


def table_state(store) -> list[tuple]:
    with store.connect() as conn:
        return conn.execute(
            "SELECT file_hash, dataset, keep, tier, text, updated_at FROM audio_quality ORDER BY 1, 2"
        ).fetchall()


def decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    return samples, rate


def run_export(store, corpus: Corpus, out_dir: Path, **kwargs):
    dataset = kwargs.pop("dataset", DATASET)
    options = {"where": None, "fmt": "hf", "columns": None, "datasets_dir": corpus.datasets_dir} | kwargs
    return export_dataset(store, dataset=dataset, out_dir=out_dir, **options)


# --- round trips --------------------------------------------------------------------------------


def test_hf_export_of_kept_clips_round_trips(store, corpus, tmp_path):
    import datasets

    out_dir = tmp_path / "hf"
    report = run_export(store, corpus, out_dir, where="keep", fmt="hf")

    kept = corpus.kept
    assert report.rows == len(kept) == 3
    assert report.skipped == ()
    assert report.audio_s == pytest.approx(sum(c.samples.size for c in kept) / SR)
    assert report.columns == ("text", "file_hash", *DEFAULT_COLUMNS)

    ds = datasets.load_from_disk(str(out_dir))
    assert len(ds) == len(kept)
    assert ds.features["audio"] == datasets.Audio(sampling_rate=SR)
    assert set(ds.column_names) == {"audio", "text", "file_hash", *DEFAULT_COLUMNS}
    assert ds.features["keep"] == datasets.Value("bool")
    assert ds.features["chunk_index"] == datasets.Value("int32")

    for row in ds:  # decoded, as users read it (datasets 3.x decodes with soundfile)
        clip = corpus.clips[row["file_hash"]]
        assert row["audio"]["sampling_rate"] == SR
        np.testing.assert_allclose(row["audio"]["array"] * 32768, clip.samples, atol=1)
    raw = ds.cast_column("audio", datasets.Audio(decode=False))
    for row in raw:
        clip = corpus.clips[row["file_hash"]]
        assert row["text"] == clip.text
        assert row["keep"] is True and row["tier"] == clip.tier
        # Self-contained: the bytes are embedded, the path is only a relative name.
        assert row["audio"]["bytes"] and not Path(row["audio"]["path"]).is_absolute()
        samples, rate = decode(row["audio"]["bytes"])
        assert rate == SR
        assert np.abs(samples.astype(np.int32) - clip.samples.astype(np.int32)).max() <= 1
        assert row["duration_s"] == pytest.approx(clip.samples.size / SR, abs=1e-4)
    assert {"README.md", "export.json", "data"} <= {p.name for p in out_dir.iterdir()}
    # Nothing but the finished export is left next to it.
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]


def test_hf_export_serializes_json_arrays_and_timestamps(store, corpus, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr("pipeline.export.hf.BATCH_BYTES", 1)  # one Arrow batch per clip
    columns = ["mos_judges", "mos_ms", "created_at", "speed", "composite_mos", "versions"]
    report = run_export(store, corpus, tmp_path / "hf", where="tier = 'strict'", columns=columns)
    assert report.rows == 2
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert sorted(ds["file_hash"]) == sorted(c.file_hash for c in corpus.clips.values() if c.tier == "strict")
    assert ds.features["mos_judges"] == hf_list(datasets.Value("string"))
    row = ds.cast_column("audio", datasets.Audio(decode=False))[0]
    assert row["mos_judges"] == ["utmosv2", "dnsmos"]
    assert json.loads(row["mos_ms"]) == {"utmosv2": 10.5, "dnsmos": 3.25}
    assert row["created_at"][:4].isdigit() and "T" in row["created_at"]
    assert row["speed"] == pytest.approx(1.0)


def test_jsonl_export_round_trips(store, corpus, tmp_path):
    out_dir = tmp_path / "jsonl"
    columns = ["voice", "tier", "composite_mos", "mos_judges", "mos_ms", "created_at"]
    report = run_export(store, corpus, out_dir, where="tier in ('strict','balanced')", fmt="jsonl", columns=columns)
    assert report.rows == 3 and report.skipped == ()

    lines = [json.loads(line) for line in (out_dir / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert set(line) == {"file_name", "text", "file_hash", *columns}
        assert not Path(line["file_name"]).is_absolute() and line["file_name"].startswith("audio/")
        clip = corpus.clips[line["file_hash"]]
        assert line["text"] == clip.text and line["tier"] == clip.tier
        assert line["mos_ms"] == {"utmosv2": 10.5, "dnsmos": 3.25}
        assert line["mos_judges"] == ["utmosv2", "dnsmos"]
        assert isinstance(line["composite_mos"], float) and isinstance(line["created_at"], str)
        samples, rate = sf.read(out_dir / line["file_name"], dtype="int16")
        assert rate == SR
        np.testing.assert_array_equal(samples, clip.samples)
    names = sorted(line["file_name"] for line in lines)
    assert names[0].startswith("audio/alice/af_") and any(n.startswith("audio/external/") for n in names)


def test_filter_may_use_percent_signs(store, corpus, tmp_path):
    report = run_export(store, corpus, tmp_path / "x", where="text LIKE '%Oh dear%'", fmt="jsonl")
    assert report.rows == 1


# --- the filter is user SQL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("keep AND", "syntax error"),
        ("drop table x", "syntax error"),
        ("keep; drop table audio_quality", "syntax error"),
        ("keep); drop table audio_quality; select (true", "does not return tuples"),
        ("no_such_column", "no_such_column"),
        ("chunk_index", "boolean"),
    ],
)
def test_bad_filter_is_a_clear_error_and_writes_nothing(store, corpus, tmp_path, where, expected):
    before = table_state(store)
    out_dir = tmp_path / "exports" / "out"
    with pytest.raises(ExportError, match="filter") as info:
        run_export(store, corpus, out_dir, where=where, fmt="jsonl")
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "exports").exists()
    assert table_state(store) == before


def test_filter_runs_read_only(store, corpus, tmp_path):
    with store.connect() as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION export_test_evil() RETURNS boolean LANGUAGE plpgsql AS $$"
            " BEGIN UPDATE audio_quality SET keep = NOT keep; DELETE FROM audio_words; RETURN true; END $$"
        )
    before = table_state(store)
    # refused as pipeline_reader (no write privilege), and by the READ ONLY transaction
    with pytest.raises(ExportError, match="read-only|permission denied"):
        run_export(store, corpus, tmp_path / "a", where="keep and export_test_evil()")
    with pytest.raises(ExportError):
        run_export(store, corpus, tmp_path / "b", where="keep and (select pg_terminate_backend(1)) is null")
    with pytest.raises(ExportError, match="read-only|permission denied"):
        run_export(store, corpus, tmp_path / "c", where="keep and nextval('runs_run_id_seq') > 0")
    assert table_state(store) == before
    assert not any(tmp_path.iterdir())


def test_filter_cannot_reach_other_datasets(store, corpus):
    from pipeline.export import select_clips

    rows = select_clips(store, dataset=DATASET, where="true) OR (true", columns=None).rows
    assert rows and {row["dataset"] for row in rows} == {DATASET}


def test_slow_filter_hits_the_statement_timeout(store, corpus, tmp_path):
    with pytest.raises(ExportError, match="timeout"):
        run_export(store, corpus, tmp_path / "x", where="keep and pg_sleep(3) is not null", timeout_s=0.3)


def test_empty_selection_and_unknown_names_are_clear_errors(store, corpus, tmp_path):
    with pytest.raises(ExportError, match="no rows of dataset 'books' match"):
        run_export(store, corpus, tmp_path / "x", where="false")
    with pytest.raises(ExportError, match="'nope' has no rows.*books"):
        run_export(store, corpus, tmp_path / "x", dataset="nope")
    with pytest.raises(ExportError, match="unknown column.*bogus"):
        run_export(store, corpus, tmp_path / "x", columns=["voice", "bogus"])
    with pytest.raises(ExportError, match="unknown format"):
        run_export(store, corpus, tmp_path / "x", fmt="csv")
    assert not any(tmp_path.iterdir())


def test_existing_export_needs_overwrite(store, corpus, tmp_path):
    out_dir = tmp_path / "out"
    run_export(store, corpus, out_dir, where="keep", fmt="jsonl")
    with pytest.raises(ExportError, match="already exists"):
        run_export(store, corpus, out_dir, where="keep", fmt="jsonl")
    report = run_export(store, corpus, out_dir, where="not keep", fmt="jsonl", overwrite=True)
    assert report.rows == 2
    assert len((out_dir / "metadata.jsonl").read_text().splitlines()) == 2
    assert len(list((out_dir / "audio").rglob("*.wav"))) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    # --overwrite replaces an export, never an unrelated folder such as the dataset itself.
    with pytest.raises(ExportError, match="not an export"):
        run_export(store, corpus, corpus.datasets_dir / DATASET, where="keep", overwrite=True)
    assert (corpus.datasets_dir / DATASET / corpus.kept[0].path).exists()


# --- missing and changed wavs -----------------------------------------------------------------


def test_missing_and_changed_wavs_are_skipped_and_reported(store, corpus, tmp_path):
    datasets_dir = tmp_path / "datasets"
    specs = [
        {"voice": "af_heart", "seed": 20 + i, "text": f"clip {i}", "keep": True, "tier": "strict"} for i in range(4)
    ]
    clips = list(add_clips(store, datasets_dir, "holes", specs).values())
    (datasets_dir / "holes" / clips[0].path).unlink()
    write_wav(datasets_dir / "holes" / clips[1].path, seed=99, seconds=0.4)  # regenerated after scoring

    for fmt in ("hf", "jsonl"):
        report = export_dataset(
            store,
            dataset="holes",
            where="keep",
            out_dir=tmp_path / fmt,
            fmt=fmt,
            columns=None,
            datasets_dir=datasets_dir,
        )
        assert report.rows == 2 and report.selected == 4
        reasons = {s.file_hash: s.reason for s in report.skipped}
        assert reasons[clips[0].file_hash].startswith("wav missing")
        assert "sha256" in reasons[clips[1].file_hash]

    report = export_dataset(
        store,
        dataset="holes",
        where="keep",
        out_dir=tmp_path / "unchecked",
        fmt="jsonl",
        columns=None,
        datasets_dir=datasets_dir,
        verify_hash=False,
    )
    assert report.rows == 3 and len(report.skipped) == 1

    for clip in clips:
        (datasets_dir / "holes" / clip.path).unlink(missing_ok=True)
    with pytest.raises(ExportError, match="none of the 4 selected clips"):
        export_dataset(
            store,
            dataset="holes",
            where=None,
            out_dir=tmp_path / "gone",
            fmt="hf",
            columns=None,
            datasets_dir=datasets_dir,
        )
    assert not (tmp_path / "gone").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- CLI ------------------------------------------------------------------------------------


def test_cli_export(database_url, corpus):
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "PIPELINE_WORK_DIR": str(corpus.work_dir)}

    result = runner.invoke(app, ["export", "--dataset", DATASET, "--where", "keep", "--format", "jsonl"], env=env)
    assert result.exit_code == 0, result.output
    assert "exported 3 clips" in result.output and "skipped 0" in result.output
    out_dir = corpus.work_dir / "exports" / f"{DATASET}-jsonl"
    assert len((out_dir / "metadata.jsonl").read_text().splitlines()) == 3

    result = runner.invoke(
        app,
        ["export", "--dataset", DATASET, "--out", str(corpus.work_dir / "cols"), "-c", "voice,tier", "-c", "speed"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    import datasets

    ds = datasets.load_from_disk(str(corpus.work_dir / "cols"))
    assert len(ds) == len(corpus.clips)
    assert ds.column_names == ["audio", "text", "file_hash", "voice", "tier", "speed"]

    for args, message in [
        (["--where", "keep AND"], "syntax error"),
        (["--where", "keep", "--format", "jsonl"], "already exists"),
        (["--format", "csv"], "--format csv"),
        (["--where", "tier in ['strict']"], "filter"),
    ]:
        result = runner.invoke(app, ["export", "--dataset", DATASET, *args], env=env)
        assert result.exit_code == 2, result.output
        assert "error:" in result.output and message in result.output
        assert "Traceback" not in result.output
