"""Migration 005 adds the keep-decision columns to a database that already holds rows, without
losing any, and the store writes them afterwards."""

from __future__ import annotations

import shutil

import psycopg

from pipeline.store.migrations import MIGRATIONS_DIR, migrate

NEW_QUALITY = {
    "reject_reasons": "ARRAY",
    "primary_conf_calibrated": "real",
    "secondary_conf_calibrated": "real",
    "word_phonemes": "ARRAY",
    "n_confirmed_insertions": "integer",
}
NEW_WORDS = {"position": "integer", "fed_phonemes": "text"}


def _columns(conn, table: str) -> dict[str, str]:
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns where table_name = %s", (table,)
    ).fetchall()
    return dict(rows)


def test_005_adds_columns_and_keeps_existing_rows(tmp_path, database_url) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "005":
            shutil.copy(path, old / path.name)
    with psycopg.connect(database_url) as conn:
        migrate(conn, old)
        assert not NEW_QUALITY.keys() & _columns(conn, "audio_quality").keys()
        for k in range(3):
            conn.execute(
                "insert into audio_quality (file_hash, dataset, text, n_words, n_insertions, keep, tier)"
                " values (%s, 'old', 'a b', 2, %s, %s, 'strict')",
                (f"h{k}", k, k == 0),
            )
            conn.execute(
                "insert into audio_words (file_hash, dataset, word_index, label_word, verdict, rule)"
                " values (%s, 'old', 0, 'a', 'pass', 'pass.exact')",
                (f"h{k}",),
            )
        conn.commit()
        before = conn.execute("select * from audio_quality order by file_hash").fetchall()

        applied = migrate(conn)
        assert "005_keep_decisions.sql" in applied
        assert NEW_QUALITY.items() <= _columns(conn, "audio_quality").items()
        assert NEW_WORDS.items() <= _columns(conn, "audio_words").items()
        n_old = len(before[0])
        after = conn.execute("select * from audio_quality order by file_hash").fetchall()
        assert [row[:n_old] for row in after] == before  # every old value kept
        assert conn.execute("select count(*) from audio_words").fetchone() == (3,)
        assert conn.execute("select count(*) from audio_quality where reject_reasons is null").fetchone() == (3,)

        conn.execute(
            "update audio_quality set reject_reasons = %s where file_hash = 'h1'", (["insertion", "tts_failure"],)
        )
        found = conn.execute("select file_hash from audio_quality where 'insertion' = any(reject_reasons)").fetchall()
        assert found == [("h1",)]
        assert migrate(conn) == []  # applied once
