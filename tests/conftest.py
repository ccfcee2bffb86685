"""Shared fixtures: one real G2P for the whole session (setup takes ~5 s), the shipped book."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipeline.ingest import Book, read_book
from pipeline.tts.g2p import G2P

REPO_ROOT = Path(__file__).resolve().parents[1]
ALICE_PATH = REPO_ROOT / "data" / "books" / "alice.txt"

# Tests share the assets assembled by scripts/setup.sh, wherever pytest is started from.
os.environ.setdefault("PIPELINE_CACHE_DIR", str(REPO_ROOT / ".cache" / "pipeline"))


@pytest.fixture(scope="session")
def g2p() -> G2P:
    engine = G2P()
    engine.setup()
    return engine


@pytest.fixture(scope="session")
def alice_path() -> Path:
    return ALICE_PATH


@pytest.fixture(scope="session")
def alice_book() -> Book:
    return read_book(ALICE_PATH)


@pytest.fixture(scope="session")
def alice_raw_words() -> tuple[list[str], list[str]]:
    """An independent oracle for alice.txt, straight from the raw lines: (heading words, body
    words). Left out on purpose: the "[Illustration]" line, the Contents block (from "Contents"
    up to the first heading), "*  *  *" scene breaks, and each "CHAPTER X." line with the title
    line under it, which are the heading words."""
    lines = ALICE_PATH.read_text(encoding="utf-8").splitlines()
    heading_words: list[str] = []
    body_words: list[str] = []
    in_contents = False
    skip_next = False
    for line in lines:
        if skip_next:
            heading_words += line.split()
            skip_next = False
            continue
        if line.strip() == "Contents":
            in_contents = True
            continue
        if re.fullmatch(r"CHAPTER [IVXL]+\.", line):
            in_contents = False
            heading_words += line.split()
            skip_next = True
            continue
        if in_contents or line.strip() == "[Illustration]" or set(line.strip()) == {"*", " "}:
            continue
        body_words += line.split()
    return heading_words, body_words


# --- Postgres -------------------------------------------------------------------------------
# Tests run against a real server: TEST_DATABASE_URL (or DATABASE_URL) when set, otherwise the
# embedded PostgreSQL (pgserver) in a temp dir. Each test module gets a fresh database.


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from pipeline.store.connection import embedded_url, stop_embedded

    pgdata = tmp_path_factory.mktemp("pg") / "pgdata"
    yield embedded_url(pgdata)
    stop_embedded(pgdata)


@pytest.fixture(scope="module")
def database_url(pg_server_url: str) -> str:
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"pipeline_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(pg_server_url, dbname=name)
    try:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:  # cleanup only: a scratch database left behind is harmless
        import warnings

        warnings.warn(f"could not drop scratch database {name}: {exc}", stacklevel=1)


@pytest.fixture(scope="module")
def store(database_url: str):
    from pipeline.store.store import Store

    return Store(database_url)


@pytest.fixture(scope="module")
def populated(store) -> dict:
    """The module's database filled with the demo datasets (tests/helpers/populate.py)."""
    from helpers.populate import populate_demo

    return populate_demo(store, seed=0)
