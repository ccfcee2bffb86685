"""Which clips an export ships: the one selection function every export goes through.

``select_clips`` runs, in one READ ONLY transaction with a statement timeout,
``SELECT ... FROM audio_quality WHERE dataset = %s AND <rule> AND <rule> ...`` in book order. The
rules come from ``selection_rules``: the user's ``--where`` (typically ``keep``); heal's "the
selected take of each chunk" (``SELECTED_TAKE``: one take per chunk and voice, book order kept)
is always applied. Later stages extend that one function, not the writers: review adds "human
decisions win" (``effective_keep`` instead of ``keep``). Each rule carries the sentence the dataset card prints.

Example::

    selection = select_clips(store, dataset="main", where="keep", columns=None)
    len(selection.rows), selection.rules[0].describe
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pipeline.store.columns import VERDICT_NAMES
from pipeline.store.connection import StoreUnavailable

DEFAULT_COLUMNS = ("voice", "duration_s", "tier", "keep", "adjusted_wer", "composite_mos", "book", "chunk_index")
ALWAYS_COLUMNS = ("text", "file_hash")  # every export carries these, next to the audio
# What the dataset card and the split assignment read (not written as columns unless asked for).
FACT_COLUMNS = (
    "voice", "voice_recipe", "book", "chapter_index", "chunk_index", "duration_s", "tier", "keep",
    "escalated", "validate_error", "primary_engine", "primary_model", "secondary_engine", "secondary_model",
    "tts_engine", "tts_model", "tts_version", "versions", "composite_mos", "mos_judges", "n_words",
    "n_insertions", *(f"n_{v}" for v in VERDICT_NAMES),
)  # fmt: skip
# Per clip of the whole dataset, for the card's "left out, and why".
OVERVIEW_COLUMNS = ("file_hash", "keep", "tier", "validate_error", "n_tts_failure", "n_ambiguous", "duration_s")
ORDER = (
    "book NULLS LAST, voice NULLS LAST, chapter_index NULLS LAST, chunk_index NULLS LAST, chunk_part NULLS FIRST,"
    " path, file_hash"
)
# Heal's selection (migration 007, pipeline.heal.selection): one take per chunk and voice, the
# selected one; clips of a dataset heal never ran on have ``selected`` NULL and all ship, except
# heal attempts not yet selected over.
SELECTED_TAKE = "(selected OR (selected IS NULL AND COALESCE(attempt, 0) = 0 AND chunk_part IS NULL))"
# What the dataset card says of it (the order is pipeline.heal.selection's).
SELECTED_TAKE_DESCRIBE = (
    "one take per chunk and voice: where `pipeline heal` ran, its selected take (kept first, then lower"
    " adjusted WER, higher calibrated confidence, higher composite MOS, higher speaker similarity, a whole"
    " clip before a split pair, the earlier attempt); elsewhere the clip generate made"
)
DEFAULT_TIMEOUT_S = 60.0
RUNS_QUERY = (
    "SELECT run_id, command, args, versions, finished_at FROM runs"
    " WHERE dataset = %s AND status = 'ok' AND command IN ('generate', 'validate') ORDER BY run_id"
)


class ExportError(ValueError):
    """A user-facing problem with an export request (bad filter, unknown column, nothing selected)."""


@dataclass(frozen=True, slots=True)
class SelectionRule:
    name: str  # where | (later) healed_take | human_review
    sql: str  # a boolean over audio_quality, ANDed with the others
    describe: str  # one sentence for the dataset card


@dataclass(frozen=True, slots=True)
class Selection:
    dataset: str
    rules: tuple[SelectionRule, ...]
    rows: list[dict[str, Any]]  # selected clips, book order: output + fact columns, dataset, path
    columns: list[str]  # the metadata columns written next to the audio, in order
    types: dict[str, str]  # output column -> Postgres type (udt_name)
    overview: list[dict[str, Any]]  # OVERVIEW_COLUMNS of every clip of the dataset
    runs: list[dict[str, Any]]  # the dataset's finished generate/validate runs (args, versions), oldest first


HUMAN_REVIEW = SelectionRule(
    "human_review", "human_decision IS DISTINCT FROM 'reject'", "no person rejected the clip in `pipeline review`"
)


def selection_rules(where: str | None) -> tuple[SelectionRule, ...]:
    """The rules a clip must pass to be exported, in order (see the module docstring)."""
    where = where.strip() if where else None
    if not where:
        return ()
    if where.lower() == "keep":  # the keep decision people overrule in `pipeline review` (migration 009)
        where = "effective_keep"
    return (SelectionRule("where", where, f"the SQL filter `{where}` over audio_quality is true"), HUMAN_REVIEW)


def _table_columns(cur: psycopg.Cursor) -> dict[str, str]:
    """``audio_quality``'s columns -> Postgres type name (``udt_name``: int4, _text, jsonb, ...)."""
    cur.execute(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_name = 'audio_quality' AND table_schema = ANY(current_schemas(false))"
        " ORDER BY ordinal_position"
    )
    return {name: udt for name, udt in cur.fetchall()}


def _output_columns(requested: Sequence[str] | None, available: dict[str, str]) -> list[str]:
    wanted = list(DEFAULT_COLUMNS if requested is None else requested)
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise ExportError(f"unknown column(s) {', '.join(unknown)}; audio_quality has: {', '.join(sorted(available))}")
    return list(dict.fromkeys([*ALWAYS_COLUMNS, *wanted]))


def _sql_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    if diag.message_hint:
        message += f" (hint: {diag.message_hint})"
    return message


def _describe_empty(cur: psycopg.Cursor, dataset: str, where: str | None) -> str:
    cur.execute("SELECT count(*) FROM audio_quality WHERE dataset = %s", (dataset,))
    total = cur.fetchone()[0]
    if total and where:
        return f"no rows of dataset {dataset!r} match the filter {where!r} (the dataset has {total} rows)"
    cur.execute("SELECT DISTINCT dataset FROM audio_quality ORDER BY 1 LIMIT 20")
    known = [row[0] for row in cur.fetchall()]
    return f"dataset {dataset!r} has no rows in audio_quality" + (
        f" (datasets: {', '.join(known)})" if known else " (the table is empty)"
    )


def _fetch(cur: psycopg.Cursor, query, params) -> list[dict[str, Any]]:
    cur.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


READER_FILTER = " AND (file_hash, dataset) IN (SELECT file_hash, dataset FROM pipeline_filter(%s, %s))"


def _require_reader(cur: psycopg.Cursor) -> None:
    """User SQL runs through ``pipeline_filter()`` (migration 004), evaluated as the
    least-privilege role ``pipeline_reader``: it can only SELECT the project's tables and views,
    so superuser functions, role switches and writes are refused."""
    cur.execute("SELECT to_regprocedure('pipeline_filter(text, text)') IS NOT NULL")
    if not cur.fetchone()[0]:
        raise ExportError(
            "--where needs the pipeline_reader role (migration 004), which this database user could not"
            " create (no CREATEROLE); ask an administrator to run `pipeline db migrate` as a superuser"
        )


def _params(dataset: str, rules: Sequence[SelectionRule]) -> tuple[str, ...]:
    return (dataset, *(value for rule in rules for value in (rule.sql, dataset)))


def _query(dataset_columns: Sequence[str], rules: Sequence[SelectionRule]):
    filters = sql.SQL("").join(sql.SQL(READER_FILTER) for _ in rules)  # the rule's SQL is a parameter
    return sql.SQL("SELECT {cols} FROM audio_quality WHERE dataset = %s AND {take}{filters}\nORDER BY {order}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, dataset_columns)),
        take=sql.SQL(SELECTED_TAKE),
        filters=filters,
        order=sql.SQL(ORDER),
    )


def select_clips(
    store,
    *,
    dataset: str,
    where: str | None,
    columns: Sequence[str] | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Selection:
    """The clips an export writes, with the facts its card needs.

    ``where`` is user-supplied SQL. It runs as the role ``pipeline_reader`` (SELECT on the
    project's tables and views only: see ``_require_reader``) inside a READ ONLY transaction with
    a statement timeout; rows of another dataset are refused in case the filter closed the
    parenthesis itself. Raises ExportError for a
    bad filter or column and for an empty selection.
    """
    rules = selection_rules(where)
    label = f"the filter {rules[0].sql!r}" if rules else f"the selection of dataset {dataset!r}"
    conn = store.connect()
    try:
        cur = conn.cursor()
        try:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(max(1, int(timeout_s * 1000))),))
            available = _table_columns(cur)
            output = _output_columns(columns, available)
            facts = [c for c in FACT_COLUMNS if c in available]
            if rules:
                _require_reader(cur)
            selected = list(dict.fromkeys(["dataset", "path", *output, *facts]))
            rows = _fetch(cur, _query(selected, rules), _params(dataset, rules))
            if not rows:
                raise ExportError(_describe_empty(cur, dataset, rules[0].sql if rules else None))
            overview = _fetch(cur, _query([c for c in OVERVIEW_COLUMNS if c in available], ()), (dataset,))
            runs = _fetch(cur, RUNS_QUERY, (dataset,))
        except psycopg.errors.QueryCanceled as exc:
            raise ExportError(f"{label} ran longer than the {timeout_s:g} s statement timeout") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"database went away while selecting rows: {str(exc).strip()}") from exc
        except psycopg.Error as exc:
            raise ExportError(f"{label} was refused by PostgreSQL: {_sql_message(exc)}") from exc
    finally:
        conn.close()  # never commits: the transaction is read-only and simply ends
    strays = {row["dataset"] for row in rows} - {dataset}
    if strays:
        raise ExportError(f"{label} selected rows of other datasets ({', '.join(sorted(strays))})")
    return Selection(dataset, rules, rows, output, {c: available[c] for c in output}, overview, runs)
