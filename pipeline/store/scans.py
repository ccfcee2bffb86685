"""Which stored clips a scan works on, and what the database holds for them: the selection flags
of ``pipeline validate`` (``--only``, ``--voice``, ``--book``, ``--limit``) as one SQL predicate,
the stored fingerprints and transcripts a rerun compares against, and whole stored clips (row +
transcripts) for ``--reverdict``, read page by page (a page's bounds are small enough to hand to a
worker, which reads its page itself).

Example::

    selection = ClipSelection(only=Only.flagged, voice="af_heart", limit=100)
    state, chosen = stored_state(store, "main", hashes, selection)  # stored clips, hashes selected
    for span in page_spans(store, "main", selection):              # reverdict: every matching clip,
        clips = read_page(store, span)                               # page by page (read by a worker)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from pipeline.choices import Only
from pipeline.store.store import Store
from pipeline.store.transcripts import read_transcripts

# The stored columns a scan reads back (identity, what the verdicts and clip checks need, and
# what the keep decision folds in).
CLIP_COLUMNS = (
    "file_hash", "dataset", "path", "text", "voice", "voice_recipe", "book", "word_phonemes", "word_times",
    "g2p_details", "n_words", "keep", "escalated", "escalation_reason", "validate_error", "labeled",
    "composite_mos", "speaker_similarity", "clip_reasons", "clip_checks", "fingerprints", "duration_s",
)  # fmt: skip

ESCALATED_NEEDS_SECONDARY = (
    "--only escalated is the second stage of a staged scan (the clips the cascade escalates, from the stored"
    " primary words): use it with `validate --engines secondary`"
)

# --only as SQL over audio_quality (a clip with no row at all is unvalidated too).
ONLY = {
    Only.all: sql.SQL("TRUE"),
    Only.unvalidated: sql.SQL("(n_words IS NULL AND validate_error IS NULL AND labeled IS NOT FALSE)"),
    Only.flagged: sql.SQL("keep IS FALSE"),
    Only.passed: sql.SQL("keep IS TRUE"),
}


@dataclass(frozen=True, slots=True)
class ClipSelection:
    """The clip selection flags: ``only`` (stored state), ``voice`` (name or recipe), ``book``,
    and ``limit`` (the first N)."""

    only: Only = Only.all
    limit: int | None = None
    voice: str | None = None
    book: str | None = None

    def where(self) -> sql.Composed:
        if Only(self.only) == Only.escalated:
            raise ValueError(ESCALATED_NEEDS_SECONDARY)
        parts = [ONLY[Only(self.only)]]
        if self.voice is not None:
            parts.append(sql.SQL("(voice = {v} OR voice_recipe = {v})").format(v=sql.Literal(self.voice)))
        if self.book is not None:
            parts.append(sql.SQL("book = {}").format(sql.Literal(self.book)))
        return sql.SQL(" AND ").join(parts)

    @property
    def needs_row(self) -> bool:
        """Whether a clip must have a stored row to be selected."""
        return self.only not in (Only.all, Only.unvalidated) or self.voice is not None or self.book is not None


@dataclass(frozen=True, slots=True)
class StoredClip:
    """One clip as the database holds it: its ``audio_quality`` columns (``CLIP_COLUMNS``) and
    its transcripts by role (``audio_transcripts`` rows)."""

    row: dict[str, Any]
    transcripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per label word, the phonemes its verdicts were judged against (``audio_words.fed_phonemes``)
    # when the row has no ``word_phonemes`` (foreign data: the G2P reading, computed once).
    fed_phonemes: tuple[str, ...] | None = None

    @property
    def fingerprints(self) -> dict[str, Any]:
        return self.row.get("fingerprints") or {}


def _columns() -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, CLIP_COLUMNS))


def stored_state(
    store: Store, dataset: str, file_hashes: Sequence[str], selection: ClipSelection = ClipSelection()
) -> tuple[dict[str, StoredClip], set[str]]:
    """(the stored clips among ``file_hashes`` with their transcripts, the hashes ``selection``
    takes; ``limit`` is left to the caller). A clip without a row is taken unless the selection
    needs a stored state."""
    query = sql.SQL(
        "SELECT {cols}, {where} AS selected FROM audio_quality WHERE dataset = %s AND file_hash = ANY(%s)"
    ).format(cols=_columns(), where=selection.where())
    with store.session("reading stored clips") as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (dataset, list(file_hashes)))
            rows = {r["file_hash"]: r for r in cur}
        transcripts = read_transcripts(conn, dataset, list(rows))
    chosen = {h for h, row in rows.items() if row.pop("selected")}
    if not selection.needs_row:
        chosen |= set(file_hashes) - rows.keys()
    return {h: StoredClip(row, transcripts.get(h, {})) for h, row in rows.items()}, chosen


# A scan position: (dataset, path or '', file_hash), the order of the scan_order index.
ScanKey = tuple[str, str, str]
_SCAN_KEY_COLUMNS = sql.SQL("dataset, COALESCE(path, ''), file_hash")
_SCAN_KEY = sql.SQL("({})").format(_SCAN_KEY_COLUMNS)


@dataclass(frozen=True, slots=True)
class PageSpan:
    """One page of a scan as keyset bounds: the clips ``selection`` takes (of ``dataset``, or of
    every dataset) after ``after`` up to and including ``last`` in scan order. Small enough to
    send to a worker, which reads (and writes) its own page."""

    dataset: str | None
    selection: ClipSelection
    after: ScanKey | None
    last: ScanKey
    clips: int


def _conditions(dataset: str | None, selection: ClipSelection, after: ScanKey | None, last: ScanKey | None):
    conditions, params = [selection.where()], []
    if dataset is not None:
        conditions.append(sql.SQL("dataset = %s"))
        params.append(dataset)
    if after is not None:
        conditions.append(sql.SQL("{} > (%s, %s, %s)").format(_SCAN_KEY))
        params.extend(after)
    if last is not None:
        conditions.append(sql.SQL("{} <= (%s, %s, %s)").format(_SCAN_KEY))
        params.extend(last)
    return sql.SQL(" AND ").join(conditions), params


def page_spans(
    store: Store, dataset: str | None, selection: ClipSelection, page_size: int = 2000
) -> Iterator[PageSpan]:
    """The pages of every stored clip ``selection`` takes, in (dataset, path) order, ``page_size``
    clips each (``limit`` counted), found lazily from the scan-order index: a page's bounds are
    read only when the page before it has been handed out, so pages already rewritten never
    shift the next one."""
    remaining = selection.limit
    after: ScanKey | None = None
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        where, params = _conditions(dataset, selection, after, None)
        query = sql.SQL("SELECT {key} FROM audio_quality WHERE {where} ORDER BY {key} LIMIT {n}").format(
            key=_SCAN_KEY_COLUMNS, where=where, n=sql.Literal(size)
        )
        with store.session("reading the scan order") as conn:
            keys = conn.execute(query, params).fetchall()
        if not keys:
            return
        last: ScanKey = (keys[-1][0], keys[-1][1], keys[-1][2])
        yield PageSpan(dataset, selection, after, last, len(keys))
        after = last
        if remaining is not None:
            remaining -= len(keys)
        if len(keys) < size:
            return


def read_page(store: Store, span: PageSpan) -> list[StoredClip]:
    """The stored clips of ``span`` with their transcripts (and, for rows without
    ``word_phonemes``, the phonemes their words were judged against)."""
    where, params = _conditions(span.dataset, span.selection, span.after, span.last)
    # LIMIT: the planner then walks the scan-order index from ``after`` instead of filtering the
    # whole dataset for the bounds.
    query = sql.SQL("SELECT {cols} FROM audio_quality WHERE {where} ORDER BY {key} LIMIT {n}").format(
        cols=_columns(), where=where, key=_SCAN_KEY_COLUMNS, n=sql.Literal(span.clips)
    )
    with store.session("reading stored clips") as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        by_dataset: dict[str, list[str]] = {}
        for row in rows:
            by_dataset.setdefault(row["dataset"], []).append(row["file_hash"])
        transcripts = {ds: read_transcripts(conn, ds, hashes) for ds, hashes in by_dataset.items()}
        fed = _fed_phonemes(conn, [r for r in rows if not r["word_phonemes"] and r["n_words"]])
    return [
        StoredClip(r, transcripts[r["dataset"]].get(r["file_hash"], {}), fed.get((r["file_hash"], r["dataset"])))
        for r in rows
    ]


def _fed_phonemes(conn, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """{(file_hash, dataset): the stored fed phonemes of every label word} for ``rows`` (a clip
    with a word that has none is left out: its verdicts then ask the G2P again)."""
    if not rows:
        return {}
    found: dict[tuple[str, str], list] = {}
    cursor = conn.execute(
        "SELECT w.file_hash, w.dataset, w.fed_phonemes FROM audio_words w"
        " JOIN unnest(%s::text[], %s::text[]) AS f(file_hash, dataset) USING (file_hash, dataset)"
        " WHERE w.word_index >= 0 ORDER BY w.file_hash, w.dataset, w.word_index",
        ([r["file_hash"] for r in rows], [r["dataset"] for r in rows]),
    )
    for file_hash, dataset, phonemes in cursor:
        found.setdefault((file_hash, dataset), []).append(phonemes)
    n_words = {(r["file_hash"], r["dataset"]): r["n_words"] for r in rows}
    return {
        key: tuple(values)
        for key, values in found.items()
        if len(values) == n_words[key] and all(v is not None for v in values)
    }
