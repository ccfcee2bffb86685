"""The shipped named SQL queries (``sql/queries/NAME.sql``) and a small way to run SQL.

Each query file holds one statement; its first line is a ``-- `` comment that describes it.
Numeric results come back as ``float`` (not ``Decimal``) so they serialize and plot directly.

Example::

    from pipeline.queries import list_queries, run_query
    [q.name for q in list_queries()]            # ['dataset_comparison', 'failing_words', ...]
    result = run_query("pass_rate")             # DATABASE_URL, or the embedded server
    result.columns, result.rows, result.to_frame()
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.store.migrations import SQL_DIR

QUERIES_DIR = SQL_DIR / "queries"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownQuery(KeyError):
    """No shipped query has that name; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown query {self.name!r}; known: {', '.join(self.known) or '(none)'}"


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    description: str
    sql: str
    path: Path


@dataclass(frozen=True, slots=True)
class QueryResult:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def where(self, **equals: Any) -> QueryResult:
        """The rows whose columns equal the given values (e.g. ``where(dataset="alice")``)."""
        indexes = {self.columns.index(c): v for c, v in equals.items()}
        rows = [row for row in self.rows if all(row[i] == v for i, v in indexes.items())]
        return QueryResult(self.name, self.columns, rows)

    def to_frame(self):
        """A pandas DataFrame (pandas is imported only here)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(self.columns))


def _parse(path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    description = first[2:].strip() if first.startswith("--") else ""
    return NamedQuery(path.stem, description, text, path)


def list_queries(directory: Path = QUERIES_DIR) -> list[NamedQuery]:
    """Every shipped query, sorted by name."""
    return [_parse(p) for p in sorted(Path(directory).glob("*.sql")) if _NAME.match(p.stem)]


def get_query(name: str, directory: Path = QUERIES_DIR) -> NamedQuery:
    path = Path(directory) / f"{name}.sql"
    if not _NAME.match(name) or not path.is_file():
        raise UnknownQuery(name, [q.name for q in list_queries(directory)])
    return _parse(path)


def default_url() -> str:
    """The database of the current settings: ``DATABASE_URL``, or the embedded server."""
    from pipeline.settings import Settings
    from pipeline.store.connection import resolve_url

    settings = Settings()
    return resolve_url(settings.database_url, settings.work_dir)


def run_sql(
    statement: str,
    params: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    store=None,
    name: str = "sql",
) -> QueryResult:
    """Run one statement (migrating the schema first if needed); numerics come back as float."""
    from psycopg.types.numeric import FloatLoader

    from pipeline.store.store import Store

    store = store or Store(url or default_url())
    with store.connect() as conn:
        conn.adapters.register_loader("numeric", FloatLoader)
        cur = conn.execute(statement, params) if params is not None else conn.execute(statement)
        columns = tuple(d.name for d in cur.description or ())
        rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        conn.rollback()  # read-only: never leave anything behind
    return QueryResult(name, columns, rows)


def run_query(name: str, *, url: str | None = None, store=None, params: Mapping[str, Any] | None = None) -> QueryResult:
    """Run the shipped query ``name``; raises ``UnknownQuery`` for a name that is not shipped."""
    query = get_query(name)
    return run_sql(query.sql, params, url=url, store=store, name=name)


def read_frame(name_or_sql: str, params: Mapping[str, Any] | None = None, *, url: str | None = None):
    """A DataFrame from a shipped query's name or from a SQL statement (for notebooks)."""
    if _NAME.match(name_or_sql):
        return run_query(name_or_sql, url=url, params=params).to_frame()
    return run_sql(name_or_sql, params, url=url).to_frame()


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "; ".join(format_value(v) for v in value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)
