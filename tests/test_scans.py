"""Staged, resumable scans through the CLI on real Kokoro speech, real Whisper engines (tiny.en
primary, base secondary) and a real Postgres: a staged scan (primary on all, then the secondary
on the flagged clips) against the cascade, a rerun that transcribes nothing, a re-verdict after
a threshold change, unlabeled audio, a MOS-only scan, and resume after ``kill -9``."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import numpy as np
import psycopg
import pytest
import soundfile as sf
from helpers.processes import REPO_ROOT, base_env, cli, wait_until
from psycopg.rows import dict_row
from typer.testing import CliRunner

from cli import app

SENTENCES = {
    "match": ("The cat sat quietly on the warm mat near the old red barn.", None),
    "swapped": ("The dog sat quietly on the warm mat near the old red barn.", "cat"),  # label says cat
    "dropped": ("The cat sat quietly on the warm mat near the red barn.", "old"),  # label has old
}
ENGINES = ("--primary", "whisper-tiny", "--secondary", "whisper", "--mos-mode", "none")
# Columns that record when or how long, or what produced a row: not what was decided.
VOLATILE = {"dataset", "created_at", "updated_at", "primary_ms", "secondary_ms", "fingerprints", "mos_ms"}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """Three labeled clips (one right, two whose label differs from the speech) and one wav
    with no label."""
    from pipeline.settings import Settings
    from pipeline.tts.engine import build_engine

    folder = tmp_path_factory.mktemp("scan-clips")
    engine = build_engine(Settings())
    engine.setup()
    label = SENTENCES["match"][0]
    for name, (spoken, _) in SENTENCES.items():
        audio = engine.synthesize_text(spoken, voice="af_heart").audio
        sf.write(folder / f"{name}.wav", audio, 24_000, subtype="PCM_16")
        (folder / f"{name}.txt").write_text(label, encoding="utf-8")
    sf.write(folder / "nolabel.wav", (audio * 0.7).astype(np.float32), 24_000, subtype="PCM_16")
    return folder


def invoke(url: str, work, *args: str):
    result = CliRunner().invoke(
        app, [*args, "--work-dir", str(work)], env={"DATABASE_URL": url}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def rows(url: str, dataset: str) -> tuple[list[dict], list[dict]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        quality = conn.execute("SELECT * FROM audio_quality WHERE dataset = %s ORDER BY path", (dataset,)).fetchall()
        words = conn.execute(
            "SELECT * FROM audio_words WHERE dataset = %s ORDER BY file_hash, word_index", (dataset,)
        ).fetchall()
    strip = lambda row: {k: v for k, v in row.items() if k not in VOLATILE}  # noqa: E731
    return [strip(r) for r in quality], [strip(r) for r in words]


@pytest.fixture(scope="module")
def scanned(clip_dir, database_url, tmp_path_factory):
    """The same clips scanned three times: staged (primary on all, then secondary --only
    escalated), staged with the older spelling of the second stage (--only flagged), and in one
    cascade run; returns (url, work dir, outputs)."""
    work = tmp_path_factory.mktemp("scan-work")
    source = ("validate", str(clip_dir))
    outputs = {"cascade": invoke(database_url, work, *source, "--dataset", "cascade", "--engines", "cascade", *ENGINES)}
    for dataset, only in (("staged", "escalated"), ("staged-old", "flagged")):
        outputs[f"{dataset} primary"] = invoke(
            database_url, work, *source, "--dataset", dataset, "--engines", "primary", *ENGINES
        )
        outputs[f"{dataset} secondary"] = invoke(
            database_url, work, *source, "--dataset", dataset, "--engines", "secondary", "--only", only, *ENGINES
        )
    return database_url, work, outputs


def test_staged_scan_gives_the_cascade_verdicts(scanned):
    url, _, _ = scanned
    staged, cascade = rows(url, "staged"), rows(url, "cascade")
    assert staged == cascade
    old = rows(url, "staged-old")
    assert len(old[1]) == len(staged[1])
    # --only flagged, the older spelling of the second stage: the same scan, column by column
    differ = [k for a, b in zip(old[0], staged[0], strict=True) for k in a if k != "dataset" and a[k] != b[k]]
    assert not differ, differ
    by_path = {r["path"]: r for r in staged[0]}
    assert by_path["swapped.wav"]["escalated"] and by_path["swapped.wav"]["secondary_engine"] == "whisper"
    assert by_path["match.wav"]["keep"] is True
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT role, count(*) FROM audio_transcripts WHERE dataset = 'staged' GROUP BY role ORDER BY role"
        ).fetchall()
        words = conn.execute(
            "SELECT words FROM audio_transcripts WHERE dataset = 'staged' AND role = 'primary' LIMIT 1"
        ).fetchone()[0]
    escalated = sum(1 for r in staged[0] if r["escalated"])
    assert stored == [("primary", 3), ("secondary", escalated)]
    assert {"word", "start", "end", "confidence", "calibrated"} <= words[0].keys()


@pytest.mark.parametrize(
    "args",
    [("--engines", "cascade"), ("--engines", "primary"), ("--reverdict",), ("--mos-only",)],
)
def test_only_escalated_is_the_second_stage_of_a_staged_scan_only(scanned, clip_dir, args):
    url, work, _ = scanned
    source = () if "--reverdict" in args else (str(clip_dir),)
    result = CliRunner().invoke(
        app,
        ["validate", *source, "--dataset", "staged", *args, "--only", "escalated", *ENGINES, "--work-dir", str(work)],
        env={"DATABASE_URL": url},
    )
    assert result.exit_code != 0
    assert "--only escalated is the second stage of a staged scan" in " ".join(result.output.split())


def test_rerun_transcribes_nothing(scanned, clip_dir):
    url, work, _ = scanned
    before = rows(url, "staged")
    output = invoke(url, work, "validate", str(clip_dir), "--dataset", "staged", "--engines", "cascade", *ENGINES)
    assert "none / none" in output, output  # transcribed / reused
    assert rows(url, "staged") == before


def test_unlabeled_audio_gets_signal_metrics_and_no_verdicts(scanned):
    url, _, _ = scanned
    unlabeled = {r["path"]: r for r in rows(url, "cascade")[0]}["nolabel.wav"]
    assert unlabeled["labeled"] is False and unlabeled["validate_error"] is None
    assert unlabeled["n_words"] is None and unlabeled["keep"] is None and unlabeled["primary_text"] is None
    assert unlabeled["rms_db"] is not None and unlabeled["duration_s"] > 1


def test_reverdict_applies_changed_thresholds_without_asr(scanned):
    from verdicts import Thresholds, tier_for

    url, work, _ = scanned
    with psycopg.connect(url) as conn:
        transcripts_before = conn.execute("SELECT max(updated_at) FROM audio_transcripts").fetchone()[0]
    strict = ("--tier-wer", "0,0,0", "--tier-confidence", "0.9999,0.9998,0.9997")
    output = invoke(url, work, "validate", "--reverdict", "--dataset", "cascade", *strict)
    assert "reverdict summary" in output
    changed = Thresholds(
        strict_wer=0, balanced_wer=0, permissive_wer=0,
        strict_confidence=0.9999, balanced_confidence=0.9998, permissive_confidence=0.9997,
    )  # fmt: skip
    quality, _ = rows(url, "cascade")
    kept = [r for r in quality if r["keep"]]
    assert kept, "the matching clip is kept"
    for row in kept:
        assert row["tier"] == tier_for(row["adjusted_wer"], row["primary_conf_calibrated"], changed)
    assert any(r["tier"] != "strict" for r in kept) or any(r["tier"] == "reject" for r in quality)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT max(updated_at) FROM audio_transcripts").fetchone()[0] == transcripts_before
    # back to the default rules: the cascade run's rows again
    invoke(url, work, "validate", "--reverdict", "--dataset", "cascade")
    assert rows(url, "cascade")[0] == rows(url, "staged")[0]
    # nothing changed since: every clip is judged, none rewritten (rows and word rows untouched)
    stamps = "SELECT file_hash, updated_at, xmin::text FROM audio_quality WHERE dataset = 'cascade' ORDER BY 1"
    # xmin: the transaction that wrote a row (a rewrite gives it a new one)
    words = "SELECT count(*), max(xmin::text::bigint) FROM audio_words WHERE dataset = 'cascade'"
    with psycopg.connect(url) as conn:
        before = conn.execute(stamps).fetchall(), conn.execute(words).fetchone()
    output = invoke(url, work, "validate", "--reverdict", "--dataset", "cascade")
    judged = re.search(r"(\d+) judged: 0 written, (\d+) unchanged", output)
    assert judged and judged.group(1) == judged.group(2) != "0", output
    with psycopg.connect(url) as conn:
        assert (conn.execute(stamps).fetchall(), conn.execute(words).fetchone()) == before


def test_reverdict_over_worker_processes_writes_what_one_process_writes(scanned, monkeypatch):
    """Pages of one clip spread over two spawned workers, each reading, judging and writing its
    own pages: the same rows as the in-process re-verdict, then nothing rewritten."""
    from pipeline.jobs import scans
    from pipeline.settings import Settings

    url, work, _ = scanned
    invoke(url, work, "validate", "--reverdict", "--dataset", "cascade")  # the default rules, in process
    expected = rows(url, "cascade")
    with psycopg.connect(url) as conn:  # forget what was decided: every row is rewritten
        conn.execute(
            "UPDATE audio_quality SET fingerprints = fingerprints - 'verdict_output' WHERE dataset = 'cascade'"
        )
        conn.execute("UPDATE audio_words SET verdict = 'tts_failure' WHERE dataset = 'cascade'")
    monkeypatch.setattr(scans, "MIN_CLIPS_PER_REVERDICT_WORKER", 1)
    monkeypatch.setattr(scans, "REVERDICT_PAGE_SIZE", 1)
    monkeypatch.setattr(scans, "REVERDICT_PAGES_PER_BATCH", 2)  # two pages a batch: a write overlaps a read
    settings = Settings(database_url=url, work_dir=work, workers=2)
    request = scans.ReverdictRequest(dataset="cascade")
    first = scans.reverdict(request, settings)
    assert first.files == 3 and first.skipped == 1 and first.unchanged == 0  # 3 labeled clips + 1 unlabeled
    assert rows(url, "cascade") == expected
    again = scans.reverdict(request, settings)
    assert (again.files, again.unchanged) == (3, 3)
    assert rows(url, "cascade") == expected


def test_page_spans_cover_the_selection_once_in_scan_order(scanned):
    from pipeline.store.scans import ClipSelection, page_spans, read_page
    from pipeline.store.store import Store

    url, _, _ = scanned
    store = Store(url)
    every = [
        c.row["path"] for span in page_spans(store, "cascade", ClipSelection(), 250) for c in read_page(store, span)
    ]
    assert every == sorted(every) and len(every) == 4
    spans = list(page_spans(store, "cascade", ClipSelection(limit=3), 2))  # pages of 2, the first 3 clips
    assert [span.clips for span in spans] == [2, 1]
    assert [c.row["path"] for span in spans for c in read_page(store, span)] == every[:3]
    flagged = [
        c for span in page_spans(store, "cascade", ClipSelection(only="flagged"), 1) for c in read_page(store, span)
    ]
    assert flagged and all(c.row["keep"] is False for c in flagged)


def test_mos_only_scores_the_selected_clips(scanned, clip_dir, monkeypatch):
    url, work, _ = scanned
    monkeypatch.setenv("PIPELINE_MOS_JUDGES", '["dnsmos"]')
    invoke(url, work, "validate", str(clip_dir), "--dataset", "cascade", "--mos-only", "--only", "passed")
    quality = {r["path"]: r for r in rows(url, "cascade")[0]}
    scored = {path for path, r in quality.items() if r["mos_dnsmos_ovrl"] is not None}
    assert scored == {path for path, r in quality.items() if r["keep"] is True}
    invoke(url, work, "validate", str(clip_dir), "--dataset", "cascade", "--mos-only", "--progress", "json")
    quality = {r["path"]: r for r in rows(url, "cascade")[0]}
    assert all(1 <= r["mos_dnsmos_ovrl"] <= 5 for r in quality.values()), "every clip, the unlabeled one too"


def test_validate_killed_then_rerun_transcribes_only_what_is_missing(clip_dir, database_url, tmp_path):
    """kill -9 once a transcript is stored; the rerun reuses every stored transcript, skips
    every finished clip and validates the rest."""
    folder = tmp_path / "many"
    folder.mkdir()
    for level in range(4):  # 12 distinct labeled clips
        for name in SENTENCES:
            audio, rate = sf.read(clip_dir / f"{name}.wav", dtype="float32")
            sf.write(folder / f"{name}{level}.wav", audio * (1 - 0.15 * level), rate, subtype="PCM_16")
            (folder / f"{name}{level}.txt").write_text(SENTENCES["match"][0], encoding="utf-8")
    args = ("validate", str(folder), "--dataset", "killed", "--engines", "primary", *ENGINES)
    args = (*args, "--work-dir", str(tmp_path))
    env = base_env(DATABASE_URL=database_url)

    def stored() -> int:
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT count(*) FROM audio_transcripts WHERE dataset = 'killed'").fetchone()[0]

    process = subprocess.Popen(cli(*args), cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: process.poll() is not None or stored() >= 2, 240, "a stored transcript", 0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    kept = stored()
    assert 2 <= kept < 12, "killed mid-run"
    rerun = subprocess.run(
        cli(*args, "--progress", "json"), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    events = [json.loads(line) for line in rerun.stderr.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["event"] == "finish" and e["phase"] == "validate"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 12 - _skipped(events)
    assert f"whisper-tiny {12 - kept}" in rerun.stdout, rerun.stdout
    with psycopg.connect(database_url) as conn:
        done = conn.execute(
            "SELECT count(*) FROM audio_quality WHERE dataset = 'killed' AND n_words IS NOT NULL"
        ).fetchone()[0]
    assert done == 12 and stored() == 12


def _skipped(events: list[dict]) -> int:
    for event in events:
        if event["event"] == "note" and "already validated" in event["message"]:
            return int(event["message"].split()[0])
    return 0


def test_validate_after_a_rule_change_judges_the_stored_transcripts_again(database_url, tmp_path):
    """A generated dataset validated, then validated again with other thresholds (the verdicts'
    fingerprint changes; engines, checks and MOS plan do not): the clips are judged again from
    their stored transcripts and quality columns (no ASR, no audio), and the rows are those a
    full run (--force) writes with the same thresholds."""
    from dataclasses import replace

    from pipeline.jobs import GenerateRequest, ValidateRequest, generate, validate
    from pipeline.settings import Settings

    book = tmp_path / "book.txt"
    book.write_text(f"CHAPTER I.\n\n{SENTENCES['match'][0]} The old barn was red.\n", encoding="utf-8")
    settings = Settings(
        work_dir=tmp_path, database_url=database_url, mos_mode="none", voices=["af_heart"], headings="drop",
        workers=1, target_seconds=3, asr_primary="whisper-tiny", asr_secondary="whisper",
    )  # fmt: skip
    generate(GenerateRequest(book=book, dataset="ruled", chapters="1"), settings)
    request = ValidateRequest(source=settings.datasets_dir / "ruled", dataset="ruled", engines="both")
    first = validate(request, settings)
    clips = len(first.results)
    assert clips >= 2 and first.rejudged == 0 and sum(first.transcribed.values()) == 2 * clips

    strict = {"strict_wer": 0.0, "balanced_wer": 0.0, "permissive_wer": 0.0, "strict_confidence": 0.9999}
    changed = settings.model_copy(update=strict)
    again = validate(request, changed)
    assert (again.rejudged, again.transcribed, again.engine_ms, len(again.results)) == (clips, {}, {}, clips)
    rejudged = rows(database_url, "ruled")
    with psycopg.connect(database_url) as conn:
        prints = conn.execute("SELECT fingerprints FROM audio_quality WHERE dataset = 'ruled'").fetchall()
    assert {p["verdicts"]["thresholds"]["strict_confidence"] for (p,) in prints} == {0.9999}
    assert validate(request, changed).skipped == clips  # current now: nothing to do

    full = validate(replace(request, force=True), changed)
    assert full.rejudged == 0 and sum(full.transcribed.values()) == 2 * clips
    assert rows(database_url, "ruled") == rejudged
