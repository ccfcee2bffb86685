"""The Postgres store against a real server: migrations, idempotency, column ownership,
bulk == row-by-row, concurrent writers, and a database that dies in the middle of a run."""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.store.columns import GROUPS
from pipeline.store.connection import StoreUnavailable, embedded_url, stop_embedded
from pipeline.store.migrations import available_migrations, migrate
from pipeline.store.store import ResilientSink, Store, sync_manifests


def gen_rows(n: int, dataset: str = "ds", offset: int = 0) -> list[dict]:
    return [
        {
            "file_hash": f"{i + offset:064x}",
            "dataset": dataset,
            "path": f"book/af_heart/chunk_{i + offset:05d}.wav",
            "text": f"sentence number {i + offset}",
            "book": "book",
            "chunk_index": i + offset,
            "voice": "af_heart",
            "gen_ms": 100.0 + i,
            "gen_rtf": 0.5,
            "duration_s": 2.0 + i / 100,
            "sample_rate": 24_000,
            "metadata": {"source": "generate"},
        }
        for i in range(n)
    ]


def asr_rows(n: int, dataset: str = "ds") -> list[dict]:
    return [
        {
            "file_hash": f"{i:064x}",
            "dataset": dataset,
            "primary_engine": "whisper",
            "primary_wer": 0.01 * i,
            "primary_text": f"sentence number {i}",
        }
        for i in range(n)
    ]


def fetch(store: Store, query: str, params=()):
    with store.connect() as conn:
        return conn.execute(query, params).fetchall()


def test_migrations_are_numbered_and_idempotent(store: Store):
    assert [v for v, _ in available_migrations()][0] == 1
    store.migrate()
    with store.connect() as conn:
        assert migrate(conn) == []
        tables = {r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
    assert {"audio_quality", "audio_words", "runs", "schema_migrations"} <= tables


def test_schema_has_every_owned_column(store: Store):
    cols = {
        r[0]
        for r in fetch(store, "select column_name from information_schema.columns where table_name = 'audio_quality'")
    }
    owned = {c for group in GROUPS.values() for c in group}
    assert owned <= cols
    assert 70 <= len(cols) <= 110


def test_rerun_changes_no_row_count(store: Store):
    rows = gen_rows(30, dataset="idem")
    store.upsert("generation", rows)
    store.upsert("generation", rows)
    store.upsert("generation", rows, bulk=True)
    assert store.count(dataset="idem") == 30


def test_column_ownership_keeps_other_stages_results(store: Store):
    store.upsert("generation", gen_rows(5, dataset="own"))
    store.upsert("primary", asr_rows(5, dataset="own"))
    # A MOS-only rerun and a generation rerun must not blank the ASR columns, and a stage that
    # does not know the voice (validate on foreign data) must not erase it.
    store.upsert(
        "mos",
        [
            {"file_hash": f"{i:064x}", "dataset": "own", "composite_mos": 4.0, "mos_judges": ["dnsmos", "distillmos"]}
            for i in range(5)
        ],
    )
    store.upsert("generation", gen_rows(5, dataset="own"))
    store.upsert(
        "signal",
        [
            {"file_hash": f"{i:064x}", "dataset": "own", "rms_db": -20.0, "text": None, "metadata": {"signal": True}}
            for i in range(5)
        ],
    )
    rows = fetch(
        store,
        "select primary_engine, primary_wer, composite_mos, mos_judges, voice, text, rms_db, "
        "metadata from audio_quality where dataset = 'own' order by chunk_index",
    )
    for i, (engine, wer, mos, judges, voice, text, rms, meta) in enumerate(rows):
        assert engine == "whisper" and wer == pytest.approx(0.01 * i)
        assert mos == 4.0 and judges == ["dnsmos", "distillmos"]
        assert voice == "af_heart" and text == f"sentence number {i}"
        assert rms == -20.0
        assert meta == {"source": "generate", "signal": True}, "metadata merges"


def test_group_refuses_columns_it_does_not_own(store: Store):
    with pytest.raises(ValueError, match="not owned"):
        store.upsert("mos", [{"file_hash": "x", "dataset": "d", "primary_wer": 0.5}])
    with pytest.raises(KeyError):
        store.upsert("nope", [{"file_hash": "x", "dataset": "d"}])


def test_bulk_and_row_by_row_write_identical_rows(store: Store):
    rows = gen_rows(250)
    for row in rows:
        row["dataset"] = "bulk"
    store.upsert("generation", rows, bulk=True)
    for row in rows:
        row["dataset"] = "rows"
    store.upsert("generation", rows, bulk=False)
    query = (
        "select file_hash, path, text, chunk_index, gen_ms, duration_s, metadata from audio_quality "
        "where dataset = %s order by file_hash"
    )
    assert fetch(store, query, ("bulk",)) == fetch(store, query, ("rows",))


def test_bulk_batch_with_duplicate_keys_keeps_the_last(store: Store):
    rows = gen_rows(3, dataset="dup")
    later = dict(rows[0], text="the later one")
    store.upsert("generation", [*rows, later], bulk=True)
    assert fetch(store, "select text from audio_quality where dataset='dup' and chunk_index=0") == [("the later one",)]


def test_a_transaction_commits_all_its_writes_or_none(store: Store):
    import psycopg

    rows = gen_rows(220, dataset="tx")
    renamed = [dict(row, text="renamed") for row in rows[:10]]
    with store.transaction("three upserts"):  # a bulk upsert must not re-apply an earlier one's rows
        store.upsert("generation", rows, bulk=True)
        store.upsert("generation", renamed, bulk=False)
        store.upsert("generation", rows[200:], bulk=True)
    assert fetch(store, "select count(*) from audio_quality where dataset = 'tx' and text = 'renamed'") == [(10,)]
    words = [{"file_hash": rows[0]["file_hash"], "dataset": "tx", "word_index": 0, "verdict": None}]  # NOT NULL
    with pytest.raises(psycopg.errors.NotNullViolation):
        with store.transaction("a row and a bad word row"):
            store.upsert("generation", gen_rows(1, dataset="tx-rolled-back"))
            store.replace_words([(rows[0]["file_hash"], "tx")], words)
    assert fetch(store, "select count(*) from audio_quality where dataset = 'tx-rolled-back'") == [(0,)]


def _writer(url: str, offset: int, rounds: int) -> None:
    store = Store(url)
    for r in range(rounds):
        store.upsert("generation", gen_rows(400, dataset="conc", offset=offset), bulk=r % 2 == 0)


def test_two_concurrent_writers(store: Store, database_url: str):
    store.migrate()
    ctx = mp.get_context("spawn")
    # Overlapping key ranges: 0..399 and 200..599.
    workers = [ctx.Process(target=_writer, args=(database_url, off, 4)) for off in (0, 200)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    assert store.count(dataset="conc") == 600


def test_runs_are_recorded(store: Store):
    run_id = store.start_run("generate", {"book": "x"}, {"pipeline": "test"}, "runs-ds")
    store.finish_run(run_id, status="ok", counts={"written": 3}, audio_s=30.0, wall_s=10.0)
    (row,) = fetch(
        store, "select status, counts, x_real_time, finished_at is not null from runs where run_id=%s", (run_id,)
    )
    assert row == ("ok", {"written": 3}, 3.0, True)


def test_unreachable_database_is_a_clear_error(tmp_path: Path):
    store = Store("postgresql://nobody@127.0.0.1:1/nothing")
    with pytest.raises(StoreUnavailable, match="cannot connect"):
        store.upsert("generation", gen_rows(1))


def test_database_down_mid_run_keeps_manifest_and_db_sync_completes(tmp_path: Path, g2p):
    """Real synthesis into a dedicated embedded server that is stopped after the first batch."""
    from pipeline.jobs.generate import run_generation
    from pipeline.manifest import Manifest
    from pipeline.records import Chunk
    from pipeline.runner import LocalRunner
    from pipeline.settings import Settings
    from pipeline.stages.synthesize import SynthesizeStage, plan_jobs
    from pipeline.tts.engine import build_engine, engine_fingerprint

    pgdata = tmp_path / "pgdata"
    store = Store(embedded_url(pgdata))
    store.migrate()
    settings = Settings(work_dir=tmp_path / "work")
    engine = build_engine(settings)
    voice = engine.resolve_voice("af_heart")
    texts = ["Down the rabbit hole.", "Curiouser and curiouser.", "Off with her head!"]
    chunks = []
    for i, text in enumerate(texts, 1):
        phonemes = g2p.phonemize(text).phonemes
        chunks.append(Chunk("tiny", i, 1, "One", "text", text, text, phonemes, len(text.split()), 1.0))
    jobs = plan_jobs(
        chunks, [("af_heart", voice)], dataset="down", speed=1.0, seed=0, fingerprint=engine_fingerprint(settings)
    )
    dataset_dir = settings.datasets_dir / "down"
    stage = SynthesizeStage(engine, {voice.canonical: voice}, dataset_dir)
    sink = ResilientSink(store)
    batches_seen = []

    def stop_after_first(records, failures):
        batches_seen.append(len(records))
        if len(batches_seen) == 1:
            stop_embedded(pgdata)

    manifest = Manifest.for_dataset(dataset_dir)
    report = run_generation(
        stage, jobs, manifest, runner=LocalRunner(1), batch_size=1, sinks=[sink], on_batch=stop_after_first
    )
    assert len(report.written) == 3 and not report.failures
    assert sink.rows == 1, "the first batch reached the database"
    assert sink.error is not None and "cannot connect" in sink.error
    assert len(manifest.records()) == 3, "every clip is in the manifest"
    with pytest.raises(StoreUnavailable):
        store.count()

    revived = Store(embedded_url(pgdata))
    assert sync_manifests(revived, settings.datasets_dir) == {"down": 3}
    assert revived.count(dataset="down") == 3
    assert sync_manifests(revived, settings.datasets_dir) == {"down": 3}
    assert revived.count(dataset="down") == 3, "sync is idempotent"
    stop_embedded(pgdata)


def test_transcript_rows_from_logs_older_than_label_probs_are_stored(database_url: str) -> None:
    """`db sync` of a validations log written before ``label_probs`` existed stores them as NULL."""
    import psycopg

    store = Store(database_url)
    row = {
        "file_hash": "h-old", "dataset": "old-log", "role": "primary", "engine": "whisper", "model": "base",
        "text": "a cat", "words": [], "error": None, "ms": 1.0, "fingerprint": {"engine": "whisper"},
    }  # fmt: skip
    store.write_transcripts([row], [{"file_hash": "h-old", "dataset": "old-log", "path": "a.wav", "text": "a cat"}])
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT label_probs, text FROM audio_transcripts WHERE dataset = 'old-log'").fetchone()
    assert stored == (None, "a cat")


def test_a_transcripts_second_listens_round_trip_through_the_store(database_url: str) -> None:
    """``Transcript.listens`` (a multilingual engine's second listen to a run of another
    language) is stored in ``audio_transcripts.listens`` and read back as it was written."""
    import psycopg
    from psycopg.rows import dict_row

    from judges.base import Transcript
    from pipeline.store.transcripts import read_transcripts, transcript_from_row, transcript_row
    from verdicts.records import LanguageListen, Word

    listen = LanguageListen("fr", 4, 7, "Où est ma chate ?")
    tx = Transcript("h-listen", "whisper", "base", "so she began again u m a shat", (Word("so", 0.0, 0.2, 0.9),))
    tx = replace(tx, listens=(listen,))
    row = transcript_row("h-listen", "listens", "primary", tx, {"engine": "whisper"})
    assert row["listens"] == [{"language": "fr", "first": 4, "last": 7, "text": "Où est ma chate ?"}]
    Store(database_url).write_transcripts(
        [row], [{"file_hash": "h-listen", "dataset": "listens", "path": "a.wav", "text": "label"}]
    )
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        stored = read_transcripts(conn, "listens", ["h-listen"])["h-listen"]["primary"]
    assert transcript_from_row(stored).listens == (listen,)
    plain = transcript_row("h-listen", "listens", "primary", replace(tx, listens=()), {})
    assert plain["listens"] is None and transcript_from_row(plain).listens == ()


def test_a_transcripts_forced_repeats_round_trip_through_the_store(database_url: str) -> None:
    """``Transcript.repeats`` (the doubled readings an engine was asked about, with their
    log-likelihood ratios) is stored in ``audio_transcripts.repeats``; an engine that was not
    asked stores NULL, one that was asked and found nothing an empty list."""
    import psycopg
    from psycopg.rows import dict_row

    from judges.base import Transcript
    from pipeline.store.transcripts import read_transcripts, transcript_from_row, transcript_row
    from verdicts.records import ForcedRepeat

    repeats = (ForcedRepeat(8, 8, 2.31), ForcedRepeat(7, 8, -4.0))
    tx = Transcript("h-repeat", "whisper", "base", "where it had been", repeats=repeats)
    row = transcript_row("h-repeat", "repeats", "primary", tx, {"engine": "whisper"})
    assert row["repeats"] == [{"first": 8, "last": 8, "llr": 2.31}, {"first": 7, "last": 8, "llr": -4.0}]
    unasked = transcript_row("h-repeat", "repeats", "secondary", replace(tx, repeats=None), {})
    Store(database_url).write_transcripts(
        [row, unasked], [{"file_hash": "h-repeat", "dataset": "repeats", "path": "a.wav", "text": "label"}]
    )
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        stored = read_transcripts(conn, "repeats", ["h-repeat"])["h-repeat"]
    assert transcript_from_row(stored["primary"]).repeats == repeats
    assert stored["secondary"]["repeats"] is None and transcript_from_row(stored["secondary"]).repeats is None
    nothing = transcript_row("h-repeat", "repeats", "primary", replace(tx, repeats=()), {})
    assert nothing["repeats"] == [] and transcript_from_row(nothing).repeats == ()
