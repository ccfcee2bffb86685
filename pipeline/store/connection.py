"""Where the database is: ``DATABASE_URL`` (psycopg 3), or an embedded real PostgreSQL.

The embedded server is PyPI ``pgserver`` (PostgreSQL 16 binaries in a wheel), with its data
dir under ``<work>/pgdata``. It is left running after a command so ``psql "$(pipeline db url)"``
works; ``pipeline db stop`` stops it. Run as root, pgserver creates a system user ``pgserver``
to own the data dir (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import orjson
import psycopg
from psycopg.types.json import set_json_loads

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; results stay in the manifests (``pipeline db sync`` later)."""


def _import_pgserver():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def embedded_url(data_dir: Path) -> str:
    try:
        pgserver = _import_pgserver()
    except ImportError as exc:
        raise StoreUnavailable(
            "DATABASE_URL is not set and the embedded PostgreSQL (pip package pgserver) is not installed"
        ) from exc
    data_dir = Path(data_dir).resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(data_dir, cleanup_mode=None)
        server.ensure_postgres_running()  # a cached handle may point at a server stopped since
    except Exception as exc:  # pgserver raises plain exceptions with pg_ctl output
        raise StoreUnavailable(f"could not start the embedded PostgreSQL in {data_dir}: {exc}") from exc
    return server.get_uri()


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded server on ``data_dir``; False if there is none."""
    data_dir = Path(data_dir).resolve()
    if not (data_dir / "postmaster.pid").exists():
        return False
    _import_pgserver()  # quiet import; pg_ctl lives in its package
    from pgserver._commands import pg_ctl

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    except Exception as exc:  # already stopped, stale pid file
        log.info("pg_ctl stop on %s: %s", data_dir, exc)
    return True


def resolve_url(database_url: str | None, work_dir: Path) -> str:
    return database_url or embedded_url(Path(work_dir) / "pgdata")


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL at {redact(url)}: {str(exc).strip()}") from exc
    # JSON/JSONB columns are read through orjson (several times faster than the standard
    # library's decoder: a scan decodes every clip's stored words). Writes keep the standard
    # encoder, which turns numpy floats into numbers.
    set_json_loads(orjson.loads, conn)
    return conn


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable DATABASE_URL>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())
