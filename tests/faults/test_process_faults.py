"""``generate`` and ``validate`` killed, stopped and cut off from their database, as real
processes against a real (scratch) PostgreSQL database.

* kill -9 / SIGTERM mid-run: the whole process tree is gone afterwards (workers die with their
  parent), the killed run's ``runs`` row ends ``failed`` (with the signal on a clean stop, as
  stale at the next start after a kill -9), and a rerun completes: rows = manifest = wav files.
* connections terminated (``pg_terminate_backend``) while validate writes: every clip still
  reaches the validations log, validate exits 1 saying the database writes failed, and
  ``pipeline db sync`` stores everything.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import soundfile as sf
from helpers.processes import REPO_ROOT, alive, base_env, children_of, cli, wait_until, workers_of

GENERATE = ("--chapters", "1", "--limit", "6", "--target-seconds", "4", "--workers", "2", "--batch-size", "1")
VALIDATE = ("--engines", "primary", "--primary", "whisper-tiny", "--mos-mode", "none")
RUN_TIMEOUT_S = 240
BOOK_TEXT = (
    "A Small Test Book\n\nCHAPTER I.\nThe Beginning\n\n"
    "The cat sat quietly on the warm mat near the old red barn, and watched the rain.\n\n"
    "Alice was beginning to get very tired of sitting by her sister on the bank.\n\n"
    "Once or twice she had peeped into the book her sister was reading.\n\n"
    "It had no pictures or conversations in it, and she wondered what use it was.\n\n"
    "So she was considering in her own mind whether the pleasure would be worth the trouble.\n\n"
    "Suddenly a white rabbit with pink eyes ran close by her, looking at its watch.\n"
)
LEVELS = 3
SENTENCES = (
    "The cat sat quietly on the warm mat.",
    "Alice was beginning to get very tired.",
    "She had peeped into the book her sister was reading.",
    "It had no pictures or conversations in it.",
    "So she was considering in her own mind.",
    "There was nothing so very remarkable in that.",
    "The rabbit took a watch out of its pocket.",
    "Down, down, down. Would the fall never come to an end?",
)
N_CLIPS = len(SENTENCES) * LEVELS


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    from pipeline.store.store import Store

    Store(database_url).migrate()
    return database_url


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 short wav+txt clips of real Kokoro speech (8 sentences at three levels, so every file
    differs): enough for two ASR worker processes and a run that lasts a while."""
    from pipeline.settings import Settings
    from pipeline.tts.engine import build_engine

    folder = tmp_path_factory.mktemp("fault-clips")
    engine = build_engine(Settings())
    engine.setup()
    for index, text in enumerate(SENTENCES):
        audio = engine.synthesize_text(text, "af_heart").audio
        for level in range(LEVELS):
            sf.write(folder / f"c{index}_{level}.wav", audio * (1 - 0.2 * level), 24_000, subtype="PCM_16")
            (folder / f"c{index}_{level}.txt").write_text(text, encoding="utf-8")
    return folder


def start(args: tuple[str, ...], work: Path, url: str) -> subprocess.Popen:
    log = (work / "log.txt").open("ab")
    return subprocess.Popen(
        cli(*args, "--work-dir", str(work)),
        cwd=REPO_ROOT,
        env=base_env(DATABASE_URL=url, PIPELINE_WORK_DIR=str(work)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def finish(process: subprocess.Popen, work: Path) -> tuple[int, str]:
    try:
        code = process.wait(RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return code, (work / "log.txt").read_text(errors="replace")


def stop_mid_run(process: subprocess.Popen, started: callable, signum: int) -> set[int]:
    """Wait until the run has workers and has finished something, then send ``signum``; returns
    the process tree as it was just before."""
    wait_until(lambda: process.poll() is None and started(), RUN_TIMEOUT_S, "the run to get going", 0.2)
    tree = children_of(process.pid) | {process.pid}
    process.send_signal(signum)
    process.wait(60)
    try:
        wait_until(lambda: not any(alive(pid) for pid in tree), 20, "every process of the tree to exit")
    except AssertionError:
        left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in tree if alive(pid)}
        raise AssertionError(f"orphans left: {left}") from None
    return tree


def runs(url: str, command: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT status, error FROM runs WHERE command = %s ORDER BY run_id", (command,)).fetchall()


def manifest_lines(dataset_dir: Path) -> int:
    path = dataset_dir / "manifest.jsonl"
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_generate_stopped_mid_run_leaves_no_orphans_and_reruns_complete(migrated, tmp_path, signum):
    dataset = f"gen-{signal.Signals(signum).name.lower()}"
    book = tmp_path / "book.txt"
    book.write_text(BOOK_TEXT, encoding="utf-8")
    args = ("generate", "--book", str(book), *GENERATE, "--dataset", dataset)
    dataset_dir = tmp_path / "datasets" / dataset
    process = start(args, tmp_path, migrated)
    tree = stop_mid_run(process, lambda: manifest_lines(dataset_dir) >= 1 and len(workers_of(process.pid)) == 2, signum)
    assert len(tree) >= 3, "the run had worker processes"
    if signum == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        assert runs(migrated, "generate")[-1] == ("failed", "stopped by SIGTERM")

    code, output = finish(start(args, tmp_path, migrated), tmp_path)
    assert code == 0, output[-3000:]
    wavs = sorted(p.relative_to(dataset_dir).as_posix() for p in dataset_dir.rglob("*.wav"))
    from pipeline.manifest import Manifest

    listed = sorted(r.wav_path for r in Manifest.for_dataset(dataset_dir).records())
    with psycopg.connect(migrated) as conn:
        rows = sorted(r[0] for r in conn.execute("SELECT path FROM audio_quality WHERE dataset = %s", (dataset,)))
    assert len(wavs) == 6 and wavs == listed == rows
    states = [status for status, _ in runs(migrated, "generate")][-2:]
    assert states == ["failed", "ok"], "the stopped run is failed (stale after kill -9), the rerun ok"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_validate_stopped_mid_run_leaves_no_orphans_and_reruns_complete(migrated, clips, tmp_path, signum):
    dataset = f"val-{signal.Signals(signum).name.lower()}"
    args = ("validate", str(clips), "--dataset", dataset, *VALIDATE)
    process = start(args, tmp_path, migrated)
    tree = stop_mid_run(process, lambda: len(workers_of(process.pid)) == 2, signum)
    assert len(tree) >= 3, "the run had ASR worker processes"
    if signum == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        assert runs(migrated, "validate")[-1] == ("failed", "stopped by SIGTERM")
    code, output = finish(start(args, tmp_path, migrated), tmp_path)
    assert code == 0, output[-3000:]
    with psycopg.connect(migrated) as conn:
        validated = conn.execute(
            "SELECT count(*) FROM audio_quality WHERE dataset = %s AND n_words IS NOT NULL", (dataset,)
        ).fetchone()[0]
    assert validated == N_CLIPS
    assert [status for status, _ in runs(migrated, "validate")][-2:] == ["failed", "ok"]


def test_validate_keeps_every_result_when_connections_drop(migrated, clips, tmp_path):
    """The first audio_words write is held on a table lock, its connection terminated; then
    every connection of the database is terminated in a loop until validate ends."""
    dataset = "val-dropped"
    db = psycopg.conninfo.conninfo_to_dict(migrated)["dbname"]
    with psycopg.connect(migrated, autocommit=True) as killer, psycopg.connect(migrated) as locker:
        locker.execute("LOCK TABLE audio_words IN ACCESS EXCLUSIVE MODE")
        process = start(("validate", str(clips), "--dataset", dataset, *VALIDATE), tmp_path, migrated)

        def terminate_all() -> int:
            return len(
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid NOT IN (pg_backend_pid(), %s)",
                    (db, locker.info.backend_pid),
                ).fetchall()
            )

        def writer_waiting() -> bool:
            return bool(
                killer.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (db,)
                ).fetchall()
            )

        wait_until(lambda: process.poll() is not None or writer_waiting(), RUN_TIMEOUT_S, "a blocked write")
        assert terminate_all() >= 1, "a write was cut off mid-transaction"
        locker.rollback()
        while process.poll() is None:
            terminate_all()
            time.sleep(0.05)
    code, output = finish(process, tmp_path)
    assert code == 1, output[-3000:]
    assert "database writes failed" in output and "DB writes failed" in output

    entries = [json.loads(line) for line in (tmp_path / "validations" / f"{dataset}.jsonl").read_text().splitlines()]
    assert len(entries) == N_CLIPS, "every clip reached the local log"
    synced = subprocess.run(
        cli("db", "sync", "--dataset", dataset),
        cwd=REPO_ROOT,
        env=base_env(DATABASE_URL=migrated, PIPELINE_WORK_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with psycopg.connect(migrated) as conn:
        validated = conn.execute(
            "SELECT count(*) FROM audio_quality WHERE dataset = %s AND n_words IS NOT NULL", (dataset,)
        ).fetchone()[0]
        words = conn.execute("SELECT count(*) FROM audio_words WHERE dataset = %s", (dataset,)).fetchone()[0]
    assert validated == N_CLIPS
    assert words == sum(len(entry["words"]) for entry in entries)
