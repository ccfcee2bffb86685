"""Which stored clips a scan works on, and what the database holds for them: the selection flags
of ``pipeline validate`` (``--only``, ``--voice``, ``--book``, ``--limit``) as one SQL predicate,
the stored fingerprints and transcripts a rerun compares against, and whole stored clips (row +
transcripts) for ``--reverdict``, read page by page.

Example::

    selection = ClipSelection(only=Only.flagged, voice="af_heart", limit=100)
    state, chosen = stored_state(store, "main", hashes, selection)  # stored clips, hashes selected
    for page in stored_pages(store, "main", selection):            # reverdict: every matching clip
        ...
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


def stored_pages(
    store: Store, dataset: str | None, selection: ClipSelection, page_size: int = 2000
) -> Iterator[list[StoredClip]]:
    """Every stored clip ``selection`` takes (of ``dataset``, or of all datasets), with its
    transcripts, in (dataset, path) order, ``page_size`` at a time (keyset paging)."""
    remaining = selection.limit
    after: tuple[str, str, str] | None = None
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        conditions = [selection.where()]
        params: list[Any] = []
        if dataset is not None:
            conditions.append(sql.SQL("dataset = %s"))
            params.append(dataset)
        if after is not None:
            conditions.append(sql.SQL("(dataset, COALESCE(path, ''), file_hash) > (%s, %s, %s)"))
            params.extend(after)
        query = sql.SQL(
            "SELECT {cols} FROM audio_quality WHERE {where} ORDER BY dataset, COALESCE(path, ''), file_hash LIMIT {n}"
        ).format(cols=_columns(), where=sql.SQL(" AND ").join(conditions), n=sql.Literal(size))
        with store.session("reading stored clips") as conn:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                rows = cur.fetchall()
            by_dataset: dict[str, list[str]] = {}
            for row in rows:
                by_dataset.setdefault(row["dataset"], []).append(row["file_hash"])
            transcripts = {ds: read_transcripts(conn, ds, hashes) for ds, hashes in by_dataset.items()}
            fed = _fed_phonemes(conn, [r for r in rows if not r["word_phonemes"] and r["n_words"]])
        if not rows:
            return
        yield [
            StoredClip(r, transcripts[r["dataset"]].get(r["file_hash"], {}), fed.get((r["file_hash"], r["dataset"])))
            for r in rows
        ]
        last = rows[-1]
        after = (last["dataset"], last["path"] or "", last["file_hash"])
        if remaining is not None:
            remaining -= len(rows)
        if len(rows) < size:
            return


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
