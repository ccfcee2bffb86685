"""``export --where`` is user-supplied SQL: on a real PostgreSQL, connected as a superuser (as
the embedded server's role is), it must not reach superuser functions, switch roles or write."""

from __future__ import annotations

import psycopg
import pytest

from pipeline.export import ExportError, select_clips

DATASET = "where-faults"


@pytest.fixture(scope="module")
def rows(store) -> None:
    store.upsert(
        "generation",
        [{"file_hash": f"h{i}", "dataset": DATASET, "path": f"c{i}.wav", "text": f"clip {i}"} for i in range(3)],
    )


def select(store, where: str):
    return select_clips(store, dataset=DATASET, where=where, columns=["text"], timeout_s=10).rows


def test_where_filter_cannot_call_superuser_functions(store, database_url, rows) -> None:
    with psycopg.connect(database_url, autocommit=True) as victim:
        assert victim.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        pid = victim.info.backend_pid
        refused = {
            f"pg_terminate_backend({pid})": "permission denied|must be a superuser",
            "pg_reload_conf()": "permission denied",
            "pg_read_file('/etc/hostname') <> ''": "permission denied",
            "set_config('role', current_setting('is_superuser'), false) <> ''": "security-definer|permission",
            "set_config('session_authorization', 'postgres', false) <> ''": "security-definer|permission",
            "(SELECT count(*) FROM pg_authid) > 0": "permission denied",
        }
        for call, reason in refused.items():
            with pytest.raises(ExportError, match=reason):
                select(store, f"text <> '' AND {call}")
        assert victim.execute("SELECT 1").fetchone() == (1,), "the other session was not terminated"
    selected = select(store, "text like 'clip %' and path <> 'c1.wav'")
    assert [r["path"] for r in selected] == ["c0.wav", "c2.wav"]


def test_reader_role_only_reads_project_tables(database_url, store, rows) -> None:
    with psycopg.connect(database_url) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = 'pipeline_reader'"
        ).fetchone()
        assert role == (False, False, False, False)
        granted = {
            (table, privilege)
            for table, privilege in conn.execute(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = 'pipeline_reader'"
            )
        }
    assert {p for _, p in granted} == {"SELECT"}
    assert {t for t, _ in granted} == {
        *("audio_quality", "audio_words", "runs", "clip_summary", "word_failures"),
        "audio_transcripts",  # 008 + 010: what each engine heard
        *("reviews", "human_ratings", "clip_decisions"),  # 009: people's decisions and ratings
    }
