"""The review pages' reads: the clip list (filters, keyset pagination), one clip with its words,
a book's chunks in order, and the pairs the calibration page compares.

Every list order is a tuple of plain expressions with one direction, so the next page is
``WHERE (expr, ..., file_hash) < (last values)`` and PostgreSQL walks an index of migration 009
instead of counting past an OFFSET: a page of a 100k-clip dataset reads about one page of rows.

Example::

    page = list_clips(store, ClipFilter(dataset="alice", tier="reject"), sort="worst", limit=50)
    page.rows, page.next_cursor          # pass next_cursor back as ``cursor`` for the next page
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, fields
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row


@dataclass(frozen=True, slots=True)
class Order:
    keys: tuple[tuple[str, str], ...]  # (SQL expression over audio_quality, its Postgres type)
    descending: bool
    describe: str


# Each order ends in file_hash so the key is unique; the expressions match migration 009's indexes.
ORDERS: dict[str, Order] = {
    "worst": Order((("COALESCE(adjusted_wer, -1)", "real"), ("file_hash", "text")), True, "worst first (adjusted WER)"),
    "mos": Order((("COALESCE(composite_mos, 99)", "real"), ("file_hash", "text")), False, "lowest MOS first"),
    "book": Order(
        (
            ("COALESCE(book, '')", "text"),
            ("COALESCE(chapter_index, -1)", "integer"),
            ("COALESCE(chunk_index, -1)", "integer"),
            ("file_hash", "text"),
        ),
        False,
        "book order",
    ),
}
LIST_COLUMNS = (
    "file_hash", "dataset", "path", "text", "book", "chapter_index", "chunk_index", "voice", "duration_s",
    "tier", "keep", "human_decision", "effective_keep", "adjusted_wer", "composite_mos", "reject_reasons",
    "clip_reasons", "validate_error", "n_tts_failure", "n_ambiguous", "n_unverified",
)  # fmt: skip
VERDICT_COLORS = {
    "pass": "pass",
    "tts_failure": "fail",
    "ambiguous": "warn",
    "unverified": "warn",
    "insertion": "fail",
}
MOS_JUDGES = (
    ("dnsmos_ovrl", "mos_dnsmos_ovrl"),
    ("distillmos", "mos_distillmos"),
    ("utmosv2", "mos_utmosv2"),
    ("scoreq_synthetic", "mos_scoreq_synthetic"),
    ("nisqa", "mos_nisqa"),
    ("composite_mos", "composite_mos"),
)


class BadRequest(ValueError):
    """A filter or cursor the list cannot use; the message says which."""


@dataclass(frozen=True, slots=True)
class ClipFilter:
    dataset: str
    book: str | None = None
    chapter: int | None = None
    voice: str | None = None
    tier: str | None = None
    keep: bool | None = None  # the machine's decision
    decision: str | None = None  # approve | reject | none (not reviewed)
    verdict: str | None = None  # clips with at least one word of this verdict
    reason: str | None = None  # reject reason or clip check reason id
    text: str | None = None  # case-insensitive substring of the label

    def as_params(self) -> dict[str, str]:
        """The non-empty filters as query-string parameters (for links to the next page)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != "":
                out[f.name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return out


@dataclass(frozen=True, slots=True)
class ClipPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def _where(f: ClipFilter) -> tuple[list[sql.Composable], list[Any]]:
    parts: list[sql.Composable] = [sql.SQL("dataset = %s")]
    params: list[Any] = [f.dataset]
    simple = {"book": f.book, "chapter_index": f.chapter, "voice": f.voice, "tier": f.tier, "keep": f.keep}
    for column, value in simple.items():
        if value is not None and value != "":
            parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if f.decision == "none":
        parts.append(sql.SQL("human_decision IS NULL"))
    elif f.decision:
        parts.append(sql.SQL("human_decision = %s"))
        params.append(f.decision)
    if f.verdict:
        parts.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM audio_words w WHERE w.dataset = audio_quality.dataset"
                " AND w.file_hash = audio_quality.file_hash AND w.verdict = %s)"
            )
        )
        params.append(f.verdict)
    if f.reason:
        parts.append(sql.SQL("(reject_reasons @> ARRAY[%s]::text[] OR clip_reasons @> ARRAY[%s]::text[])"))
        params += [f.reason, f.reason]
    if f.text:
        parts.append(sql.SQL("text ILIKE %s"))
        params.append("%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return parts, params


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise BadRequest("the page cursor is not valid (start again from the first page)") from exc
    if not isinstance(values, list) or len(values) != len(order.keys):
        raise BadRequest("the page cursor does not match the sort order")
    return values


def list_clips(store, f: ClipFilter, *, sort: str = "worst", limit: int = 50, cursor: str | None = None) -> ClipPage:
    """One page of clips matching ``f`` in ``sort`` order, after ``cursor`` (keyset pagination)."""
    order = ORDERS.get(sort)
    if order is None:
        raise BadRequest(f"unknown sort {sort!r}; known: {', '.join(ORDERS)}")
    parts, params = _where(f)
    keys = [sql.SQL(expr) for expr, _ in order.keys]
    if cursor:
        values = decode_cursor(cursor, order)
        marks = sql.SQL(", ").join(sql.SQL("%s::" + kind) for _, kind in order.keys)
        op = sql.SQL("<" if order.descending else ">")
        parts.append(sql.SQL("({}) {} ({})").format(sql.SQL(", ").join(keys), op, marks))
        params += values
    direction = sql.SQL(" DESC" if order.descending else "")
    query = sql.SQL("SELECT {cols}, {keys} FROM audio_quality WHERE {where} ORDER BY {order} LIMIT %s").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, LIST_COLUMNS)),
        keys=sql.SQL(", ").join(sql.SQL("{} AS {}").format(k, sql.Identifier(f"_k{i}")) for i, k in enumerate(keys)),
        where=sql.SQL(" AND ").join(parts),
        order=sql.SQL(", ").join(k + direction for k in keys),
    )
    with store.session("listing clips") as conn:
        rows = conn.cursor(row_factory=dict_row).execute(query, [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1][f"_k{i}"] for i in range(len(keys))]) if more and rows else None
    for row in rows:
        for i in range(len(keys)):
            row.pop(f"_k{i}")
    return ClipPage(rows, next_cursor)


def explain_list(store, f: ClipFilter, *, sort: str = "worst", limit: int = 50) -> str:
    """EXPLAIN of the list query (tests and the README check that it uses an index)."""
    order = ORDERS[sort]
    parts, params = _where(f)
    keys = [sql.SQL(expr) for expr, _ in order.keys]
    direction = sql.SQL(" DESC" if order.descending else "")
    query = sql.SQL("EXPLAIN SELECT file_hash FROM audio_quality WHERE {where} ORDER BY {order} LIMIT %s").format(
        where=sql.SQL(" AND ").join(parts), order=sql.SQL(", ").join(k + direction for k in keys)
    )
    with store.session("explaining the clip list") as conn:
        return "\n".join(r[0] for r in conn.execute(query, [*params, limit]).fetchall())


def filter_choices(store, dataset: str) -> dict[str, list[Any]]:
    """The values the list's drop-downs offer for ``dataset``."""
    distinct = "SELECT DISTINCT {0} FROM audio_quality WHERE dataset = %s AND {0} IS NOT NULL ORDER BY 1"
    reasons = "COALESCE(reject_reasons, '{}') || COALESCE(clip_reasons, '{}')"
    queries = {
        "datasets": ("SELECT DISTINCT dataset FROM audio_quality ORDER BY 1", ()),
        "books": (distinct.format("book"), None),
        "voices": (distinct.format("voice"), None),
        "tiers": (distinct.format("tier"), None),
        "verdicts": ("SELECT DISTINCT verdict FROM audio_words WHERE dataset = %s ORDER BY 1", None),
        "reasons": (
            f"SELECT DISTINCT r FROM audio_quality, unnest({reasons}) AS r WHERE dataset = %s ORDER BY 1",
            None,
        ),
    }
    out: dict[str, list[Any]] = {}
    with store.session("reading filter values") as conn:
        for name, (statement, params) in queries.items():
            out[name] = [r[0] for r in conn.execute(statement, (dataset,) if params is None else params).fetchall()]
    return out


def datasets(store) -> list[str]:
    with store.session("listing datasets") as conn:
        return [r[0] for r in conn.execute("SELECT DISTINCT dataset FROM audio_quality ORDER BY 1").fetchall()]


def clip_row(store, dataset: str, file_hash: str) -> dict[str, Any] | None:
    with store.session("reading a clip") as conn:
        return (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM audio_quality WHERE dataset = %s AND file_hash = %s", (dataset, file_hash))
            .fetchone()
        )


def clip_words(store, dataset: str, file_hash: str, word_times: list[dict] | None = None) -> list[dict[str, Any]]:
    """The clip's word rows in reading order (insertions before the label word they precede),
    each with a ``seek_s``: the recognizer's start time, else Kokoro's predicted one."""
    statement = (
        "SELECT * FROM audio_words WHERE dataset = %s AND file_hash = %s"
        " ORDER BY COALESCE(position, word_index), (word_index >= 0), word_index DESC"
    )
    with store.session("reading a clip's words") as conn:
        words = conn.cursor(row_factory=dict_row).execute(statement, (dataset, file_hash)).fetchall()
    predicted = {int(t["index"]): t.get("start_s") for t in word_times or [] if isinstance(t, dict) and "index" in t}
    for word in words:
        seek = word["start_s"]
        if seek is None and word["word_index"] >= 0:
            seek = predicted.get(word["word_index"])
        word["seek_s"] = seek
        word["css"] = VERDICT_COLORS.get(word["verdict"], "other")
    return words


def clip_people(store, dataset: str, file_hash: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(reviews, ratings) of the clip, newest first."""
    with store.session("reading a clip's reviews") as conn:
        cur = conn.cursor(row_factory=dict_row)
        reviews = cur.execute(
            "SELECT reviewer, decision, note, decided_at FROM reviews WHERE dataset = %s AND file_hash = %s"
            " ORDER BY decided_at DESC",
            (dataset, file_hash),
        ).fetchall()
        ratings = cur.execute(
            "SELECT rater, mos, rated_at FROM human_ratings WHERE dataset = %s AND file_hash = %s"
            " ORDER BY rated_at DESC",
            (dataset, file_hash),
        ).fetchall()
    return reviews, ratings


def book_chunks(store, dataset: str, book: str | None, chapter: int | None = None) -> list[dict[str, Any]]:
    """The clips of one book (or one of its chapters) in reading order (chapter, chunk, voice)."""
    statement = (
        "SELECT file_hash, book, chapter_index, chunk_index, kind, voice, tier, keep, human_decision,"
        " effective_keep, validate_error, n_words IS NOT NULL AS validated, left(text, 120) AS text"
        " FROM audio_quality WHERE dataset = %s AND COALESCE(book, '') = COALESCE(%s, '')"
        " AND (%s::integer IS NULL OR COALESCE(chapter_index, -1) = %s)"
        " ORDER BY COALESCE(chapter_index, -1), COALESCE(chunk_index, -1), voice NULLS LAST, file_hash"
    )
    with store.session("reading a book") as conn:
        return conn.cursor(row_factory=dict_row).execute(statement, (dataset, book, chapter, chapter)).fetchall()


def book_chapters(store, dataset: str, book: str | None) -> list[dict[str, Any]]:
    """Per chapter of the book: clips, chunks, and chunks with a kept clip (after human decisions)."""
    statement = (
        "SELECT COALESCE(chapter_index, -1) AS chapter, count(*) AS clips, count(DISTINCT chunk_index) AS chunks,"
        " count(DISTINCT chunk_index) FILTER (WHERE effective_keep) AS covered"
        " FROM audio_quality WHERE dataset = %s AND COALESCE(book, '') = COALESCE(%s, '')"
        " GROUP BY 1 ORDER BY 1"
    )
    with store.session("summarising a book") as conn:
        return conn.cursor(row_factory=dict_row).execute(statement, (dataset, book)).fetchall()


def books(store, dataset: str) -> list[dict[str, Any]]:
    statement = (
        "SELECT book, count(*) AS clips, count(*) FILTER (WHERE effective_keep) AS kept,"
        " count(DISTINCT (chapter_index, chunk_index)) AS chunks FROM audio_quality WHERE dataset = %s"
        " GROUP BY book ORDER BY book NULLS LAST"
    )
    with store.session("listing books") as conn:
        return conn.cursor(row_factory=dict_row).execute(statement, (dataset,)).fetchall()


def rating_pairs(store, dataset: str | None) -> dict[str, list[tuple[float, float]]]:
    """Per MOS judge: (judge score, mean human MOS) of every clip both scored."""
    columns = sql.SQL(", ").join(sql.Identifier(column) for _, column in MOS_JUDGES)
    statement = sql.SQL(
        "SELECT {cols}, h.mos FROM audio_quality q JOIN"
        " (SELECT file_hash, dataset, avg(mos)::float8 AS mos FROM human_ratings GROUP BY file_hash, dataset) h"
        " USING (file_hash, dataset) WHERE %s::text IS NULL OR q.dataset = %s"
    ).format(cols=columns)
    pairs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in MOS_JUDGES}
    with store.session("reading human ratings") as conn:
        for row in conn.execute(statement, (dataset, dataset)).fetchall():
            human = row[-1]
            for (name, _), score in zip(MOS_JUDGES, row[:-1], strict=True):
                if score is not None:
                    pairs[name].append((float(score), float(human)))
    return {name: values for name, values in pairs.items() if values}
