"""Upserts into ``audio_quality`` / ``audio_words`` / ``runs``.

Example::

    store = Store.from_settings(get_settings())      # migrates on first use
    store.upsert("generation", rows)                  # rows: dicts with file_hash, dataset, ...

Two paths write the same SQL merge: row by row (``executemany`` of ``INSERT ... ON CONFLICT``)
for small batches, and bulk (``COPY`` into a temp staging table, then one
``INSERT ... SELECT ... ON CONFLICT``) for large ones. Rows are sorted by key before writing so
two concurrent writers lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pipeline.keep import clip_decision
from pipeline.records import AudioRecord, ClipResult
from pipeline.settings import Settings
from pipeline.store.columns import IDENTITY, JSON_COLUMNS, KEY, MERGED_JSON, WORD_COLUMNS, columns_for
from pipeline.store.connection import StoreUnavailable, connect, resolve_url
from pipeline.store.migrations import migrate
from pipeline.store.results_log import ResultsLog
from pipeline.store.rows import generation_row, validation_entry
from pipeline.store.transcripts import write_transcripts

log = logging.getLogger(__name__)

BULK_THRESHOLD = 200  # rows; below this, row-by-row is as fast and simpler to debug
# Per thread: {id(store): the connection of its open ``Store.transaction``}.
_OPEN = threading.local()


def _open_connections() -> dict[int, psycopg.Connection]:
    """This thread's connections of open transactions, by store."""
    return _OPEN.__dict__.setdefault("connections", {})


@dataclass(frozen=True, slots=True)
class UpsertResult:
    rows: int
    seconds: float
    bulk: bool


def _adapt(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return Jsonb(value)
    return value


class Store:
    """One database. Connections are opened per call (cheap on loopback, safe across forks)."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        self._migrated = not auto_migrate

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(resolve_url(settings.database_url, settings.work_dir))

    @contextmanager
    def session(self, doing: str) -> Iterator[psycopg.Connection]:
        """One connection and transaction for a read or write (inside :meth:`transaction`: that
        one's); a connection lost on the way (terminated, server restarted, network gone) becomes
        :class:`StoreUnavailable`, never a raw psycopg error, so every caller can fall back to
        its local log."""
        open_here = _open_connections().get(id(self))
        if open_here is not None:
            yield open_here
            return
        try:
            with self.connect() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"database went away while {doing}: {str(exc).strip()}") from exc

    @contextmanager
    def transaction(self, doing: str) -> Iterator[None]:
        """Every session this thread opens on this store inside the ``with`` shares one
        connection and one transaction: the writes commit together or not at all (a clip's
        row never lands without its word rows). Nested: the outer one."""
        connections = _open_connections()
        if id(self) in connections:
            yield
            return
        with self.session(doing) as conn:
            connections[id(self)] = conn
            try:
                yield
            finally:
                del connections[id(self)]

    def connect(self) -> psycopg.Connection:
        conn = connect(self.url)
        if not self._migrated:
            try:
                applied = migrate(conn)
            except psycopg.OperationalError as exc:
                conn.close()
                raise StoreUnavailable(f"database went away while migrating: {str(exc).strip()}") from exc
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            self._migrated = True
        return conn

    def migrate(self) -> list[str]:
        with self.session("migrating") as conn:
            applied = migrate(conn)
        self._migrated = True
        return applied

    # --- audio_quality -----------------------------------------------------------------------

    def upsert(
        self, group: str | Sequence[str], rows: Sequence[dict[str, Any]], *, bulk: bool | None = None
    ) -> UpsertResult:
        """Write ``group``'s columns (plus whatever identity columns the rows carry); several
        groups at once when every row carries all of them (one row version per clip)."""
        if not rows:
            return UpsertResult(0, 0.0, False)
        present = set().union(*(row.keys() for row in rows))
        groups = (group,) if isinstance(group, str) else tuple(group)
        owned = list(dict.fromkeys(c for g in groups for c in columns_for(g) if c in present))
        missing_key = [k for k in KEY if k not in present]
        if missing_key:
            raise ValueError(f"rows lack the key column(s) {missing_key}")
        identity = [c for c in IDENTITY if c in present]
        merged = [c for c in MERGED_JSON if c in present]
        columns = [*KEY, *identity, *owned, *merged]
        unknown = present - set(columns)
        if unknown:
            raise ValueError(f"columns {sorted(unknown)} are not owned by group {group!r}")
        # Merged JSON columns are NOT NULL: a row without one merges an empty object.
        ordered = sorted(
            ({**row, **{c: row.get(c) or {} for c in merged}} for row in rows),
            key=lambda r: (r["file_hash"], r["dataset"]),
        )
        use_bulk = len(ordered) >= BULK_THRESHOLD if bulk is None else bulk
        started = time.perf_counter()
        with self.session(f"writing {group} rows") as conn:
            if use_bulk:
                self._bulk(conn, columns, identity, owned, merged, ordered)
            else:
                self._row_by_row(conn, columns, identity, owned, merged, ordered)
        return UpsertResult(len(ordered), time.perf_counter() - started, use_bulk)

    @staticmethod
    def _conflict_clause(identity: list[str], owned: Sequence[str], merged: list[str]) -> sql.Composed:
        target = sql.Identifier("audio_quality")
        sets = [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in owned]
        sets += [
            sql.SQL("{c} = COALESCE(EXCLUDED.{c}, {t}.{c})").format(c=sql.Identifier(c), t=target) for c in identity
        ]
        sets += [
            sql.SQL("{c} = {t}.{c} || COALESCE(EXCLUDED.{c}, '{{}}'::jsonb)").format(c=sql.Identifier(c), t=target)
            for c in merged
        ]
        sets.append(sql.SQL("updated_at = now()"))
        return sql.SQL("ON CONFLICT (file_hash, dataset) DO UPDATE SET {}").format(sql.SQL(", ").join(sets))

    def _row_by_row(self, conn, columns, identity, owned, merged, rows) -> None:
        statement = sql.SQL("INSERT INTO audio_quality ({cols}) VALUES ({vals}) {conflict}").format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            conflict=self._conflict_clause(identity, owned, merged),
        )
        with conn.cursor() as cur:
            cur.executemany(statement, [[_adapt(c, row.get(c)) for c in columns] for row in rows])

    def _bulk(self, conn, columns, identity, owned, merged, rows) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS aq_staging"
                " (LIKE audio_quality INCLUDING DEFAULTS, staging_seq bigserial) ON COMMIT DELETE ROWS"
            )
            with cur.copy(sql.SQL("COPY aq_staging ({cols}) FROM STDIN").format(cols=cols)) as copy:
                for row in rows:
                    copy.write_row(
                        [
                            json.dumps(row.get(c)) if c in JSON_COLUMNS and row.get(c) is not None else row.get(c)
                            for c in columns
                        ]
                    )
            # The last row per key wins, as it would row by row.
            cur.execute(
                sql.SQL(
                    "INSERT INTO audio_quality ({cols}) SELECT {cols} FROM ("
                    " SELECT DISTINCT ON (file_hash, dataset) * FROM aq_staging"
                    " ORDER BY file_hash, dataset, staging_seq DESC) s {conflict}"
                ).format(cols=cols, conflict=self._conflict_clause(identity, owned, merged))
            )
            cur.execute("DELETE FROM aq_staging")  # a later upsert in the same transaction starts empty

    def write_generation(self, records: Sequence[AudioRecord]) -> UpsertResult:
        """The ``GenerationSink`` seam of ``pipeline generate``."""
        return self.upsert("generation", [generation_row(r) for r in records])

    # --- audio_words ---------------------------------------------------------------------------

    def replace_words(self, files: Iterable[tuple[str, str]], words: Sequence[dict[str, Any]]) -> int:
        """Replace the word rows of the given (file_hash, dataset) files in one transaction."""
        files = sorted(set(files))
        with self.session("writing audio_words rows") as conn, conn.cursor() as cur:
            cur.execute(
                "DELETE FROM audio_words w USING unnest(%s::text[], %s::text[]) AS f(file_hash, dataset)"
                " WHERE w.file_hash = f.file_hash AND w.dataset = f.dataset",
                ([f[0] for f in files], [f[1] for f in files]),
            )
            with cur.copy(
                sql.SQL("COPY audio_words ({}) FROM STDIN").format(
                    sql.SQL(", ").join(map(sql.Identifier, WORD_COLUMNS))
                )
            ) as copy:
                for word in words:
                    copy.write_row([word.get(c) for c in WORD_COLUMNS])
        return len(words)

    def merge_fingerprints(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        """Merge (``||``) fingerprints into the ``audio_quality`` rows of (file_hash, dataset):
        the bookkeeping of a re-verdict whose decisions came out as stored."""
        if not rows:
            return 0
        with self.session("updating fingerprints") as conn:
            conn.execute(
                "UPDATE audio_quality q SET fingerprints = COALESCE(q.fingerprints, '{}'::jsonb) || f.prints"
                " FROM unnest(%s::text[], %s::text[], %s::jsonb[]) AS f(file_hash, dataset, prints)"
                " WHERE q.file_hash = f.file_hash AND q.dataset = f.dataset",
                ([r[0] for r in rows], [r[1] for r in rows], [Jsonb(r[2]) for r in rows]),
            )
        return len(rows)

    # --- audio_transcripts ---------------------------------------------------------------------

    def write_transcripts(self, rows: Sequence[dict[str, Any]], clips: Sequence[dict[str, Any]] = ()) -> int:
        """Upsert transcript rows (``transcripts.transcript_row``); ``clips`` (file_hash, dataset,
        path, text) first create the ``audio_quality`` rows of clips that have none yet, so a
        transcript is stored the moment it exists (a killed run keeps it)."""
        if clips:
            self.upsert("audio", clips)
        if not rows:
            return 0
        with self.session("writing audio_transcripts rows") as conn:
            return write_transcripts(conn, rows)

    # --- runs ------------------------------------------------------------------------------------

    def start_run(
        self, command: str, args: dict, versions: dict, dataset: str | None = None, owner: str | None = None
    ) -> int:
        with self.session("writing the runs row") as conn:
            row = conn.execute(
                "INSERT INTO runs (command, args, versions, dataset, owner) VALUES (%s, %s, %s, %s, %s)"
                " RETURNING run_id",
                (command, Jsonb(args), Jsonb(versions), dataset, owner),
            ).fetchone()
        return int(row[0])

    def running_runs(self) -> list[tuple[int, str | None]]:
        """(run_id, owner) of every run still marked ``running``."""
        with self.session("reading runs") as conn:
            return [(int(r[0]), r[1]) for r in conn.execute("SELECT run_id, owner FROM runs WHERE status = 'running'")]

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict,
        audio_s: float | None = None,
        wall_s: float | None = None,
        error: str | None = None,
    ) -> None:
        x_real_time = audio_s / wall_s if audio_s and wall_s else None
        with self.session("writing the runs row") as conn:
            conn.execute(
                "UPDATE runs SET status = %s, finished_at = now(), counts = %s, audio_s = %s, wall_s = %s,"
                " x_real_time = %s, error = %s WHERE run_id = %s",
                (status, Jsonb(counts), audio_s, wall_s, x_real_time, error, run_id),
            )

    # --- reading ---------------------------------------------------------------------------------

    def count(self, table: str = "audio_quality", dataset: str | None = None) -> int:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        params: tuple = ()
        if dataset is not None:
            query += sql.SQL(" WHERE dataset = %s")
            params = (dataset,)
        with self.session(f"counting {table} rows") as conn:
            return int(conn.execute(query, params).fetchone()[0])


class _StoreSink:
    """A store wrapper for a long run: the first connection failure is reported once and later
    batches are not attempted; the run's local copy keeps everything for ``pipeline db sync``."""

    kept_in = "the local copy"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = 0
        self.error: str | None = None

    def _attempt(self, write: Callable[[], int]) -> None:
        if self.error is not None:
            return
        try:
            self.rows += write()
        except StoreUnavailable as exc:
            self.error = str(exc)
            log.error("%s -- kept in %s; run `pipeline db sync` when it is back", exc, self.kept_in)

    def absorb(self, rows: int, error: str | None) -> None:
        """Count a batch a worker wrote with its own copy of this sink (the Ray runner)."""
        self.rows += rows
        if error is not None and self.error is None:
            self.error = error


class ResilientSink(_StoreSink):
    """The store side of ``pipeline generate`` (clips stay in the manifest)."""

    kept_in = "the manifest"

    def write_generation(self, records: Sequence[AudioRecord]) -> None:
        if records:
            self._attempt(lambda: self.store.write_generation(records).rows)


def sync_manifests(store: Store, datasets_dir, dataset: str | None = None) -> dict[str, int]:
    """Upsert every manifest record under ``datasets_dir`` (idempotent); rows per dataset."""
    from pathlib import Path

    from pipeline.manifest import MANIFEST_NAME, Manifest

    written: dict[str, int] = {}
    for path in sorted(Path(datasets_dir).glob(f"*/{MANIFEST_NAME}")):
        if dataset is not None and path.parent.name != dataset:
            continue
        records = Manifest(path).records()
        written[path.parent.name] = store.upsert("generation", [generation_row(r) for r in records]).rows
    return written


def write_validation_entries(store: Store, entries: Sequence[dict]) -> int:
    """Upsert validate results (``rows.validation_entry`` shape: groups + words) in one
    transaction; returns clips."""
    if not entries:
        return 0
    # One upsert per set of groups: the clips that carry the same groups are written together,
    # all their groups in one row each (a clip without, say, a secondary group keeps its columns).
    by_groups: dict[tuple[str, ...], list[dict]] = {}
    for entry in entries:
        groups = entry["groups"]
        merged: dict[str, Any] = {}
        for row in groups.values():
            merged.update(row)
        by_groups.setdefault(tuple(sorted(groups)), []).append(merged)
    files = [(e["groups"]["verdicts"]["file_hash"], e["groups"]["verdicts"]["dataset"]) for e in entries]
    with store.transaction("writing validate results"):  # rows, word rows and transcripts together
        for groups, rows in by_groups.items():
            store.upsert(groups, rows)
        store.replace_words(files, [w for e in entries for w in e["words"]])
        store.write_transcripts([t for e in entries for t in e.get("transcripts", ())])  # older logs have none
    return len(entries)


def write_rejudged(store: Store, entries: Sequence[dict], refreshes: Sequence[tuple[str, str, dict]]) -> int:
    """Clips judged again from their stored transcripts (a re-verdict): the rows of those whose
    decisions changed (``entries``) and the fingerprints of those that came out as stored
    (``refreshes``: file_hash, dataset, fingerprints), all or none; returns clips rewritten."""
    if not entries and not refreshes:
        return 0
    with store.transaction("writing re-judged clips"):
        written = write_validation_entries(store, entries)
        store.merge_fingerprints(refreshes)
    return written


class ValidationSink(_StoreSink):
    """The store side of ``pipeline validate`` (results stay in the validations log)."""

    kept_in = "the validations log"

    def __init__(self, store: Store, run_id: int | None) -> None:
        super().__init__(store)
        self.run_id = run_id
        self.fingerprints: dict[str, Any] = {}  # the run's requested work (stored with each transcript)

    def write_validation(self, results: Sequence[ClipResult]) -> None:
        self._attempt(lambda: write_validation_entries(self.store, [validation_entry(r) for r in results]))

    def write_rejudged(self, entries: Sequence[dict], refreshes: Sequence[tuple[str, str, dict]]) -> None:
        """Clips this run judged again from the store (``write_rejudged``)."""
        self._attempt(lambda: write_rejudged(self.store, entries, refreshes))

    def write_transcripts(self, rows: Sequence[dict], clips: Sequence[dict]) -> None:
        """Transcripts as they come out of an engine (before the clip's row is complete)."""
        self._attempt(lambda: self.store.write_transcripts(rows, clips) * 0)  # counted with their clip

    def finish(self, report: Any) -> None:
        """Close the run's row: ``ok``, or ``failed`` with the database error when writes
        failed (best effort: the database may still be gone)."""
        if self.run_id is None:
            return
        judged = [r for r in report.results if r.verdicts is not None]
        try:
            self.store.finish_run(
                self.run_id,
                status="ok" if self.error is None else "failed",
                counts={
                    "files": len(report.results),
                    "judged": len(judged),
                    "rows": self.rows,
                    "kept": sum(1 for r in judged if (d := clip_decision(r)) is not None and d.keep),
                },
                audio_s=report.audio_s,
                wall_s=report.wall_s,
                error=None if self.error is None else f"database writes failed: {self.error}",
            )
        except StoreUnavailable as exc:
            log.error("could not close run %s: %s", self.run_id, exc)


def sync_validations(store: Store, validations_dir, dataset: str | None = None) -> dict[str, int]:
    """Upsert every validations log under ``validations_dir`` (idempotent); clips per dataset."""
    from pathlib import Path

    written: dict[str, int] = {}
    for path in sorted(Path(validations_dir).glob("*.jsonl")):
        if dataset is not None and path.stem != dataset:
            continue
        written[path.stem] = write_validation_entries(store, ResultsLog(path).entries())
    return written
