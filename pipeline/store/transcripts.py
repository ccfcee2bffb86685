"""``audio_transcripts``: each engine's transcript of a clip as data (text, and every word with its
start, end, raw and calibrated confidence), with the fingerprint of what produced it. Verdicts
are recomputed from these rows (``pipeline validate --reverdict``), a later scan adds the
secondary engine to the stored primary words, and a rerun reuses a transcript whose fingerprint
matches instead of transcribing again.

Example::

    row = transcript_row(file_hash, "main", "primary", transcript, fingerprint)
    transcript_from_row(row) == transcript     # ms aside: the same words back
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from judges.base import Transcript
from pipeline.calibration import calibration_for
from pipeline.store.columns import TRANSCRIPT_COLUMNS
from verdicts import Word
from verdicts.records import ForcedRepeat, LanguageListen

ROLES = ("primary", "secondary")


def _word_json(word: Word, calibration) -> dict[str, Any]:
    calibrated = calibration(word.confidence) if calibration is not None and word.confidence is not None else None
    return {
        "word": word.text,
        "start": word.start,
        "end": word.end,
        "confidence": word.confidence,
        "calibrated": calibrated,
    }


def transcript_row(file_hash: str, dataset: str, role: str, tx: Transcript, fingerprint: dict) -> dict[str, Any]:
    """One ``audio_transcripts`` row (``words`` as a JSON list)."""
    calibration = calibration_for(tx.engine, tx.model) if tx.error is None and tx.words else None
    return {
        "file_hash": file_hash,
        "dataset": dataset,
        "role": role,
        "engine": tx.engine,
        "model": tx.model,
        "text": tx.text if tx.error is None else None,
        "words": [_word_json(w, calibration) for w in tx.words],
        "error": tx.error,
        "ms": round(tx.ms, 1),
        "fingerprint": fingerprint,
        "label_probs": list(tx.label_probs) if tx.label_probs is not None else None,
        "listens": [listen.to_json() for listen in tx.listens] or None,
        "repeats": [r.to_json() for r in tx.repeats] if tx.repeats is not None else None,
    }


def transcript_from_row(row: dict[str, Any]) -> Transcript:
    """The ``Transcript`` a stored row holds (what the engine reported; calibration is reapplied
    by the verdicts, so a changed calibration table takes effect on re-verdict)."""
    words = tuple(Word(w["word"], w["start"], w["end"], w["confidence"]) for w in row["words"] or ())
    return Transcript(
        key=row["file_hash"],
        engine=row["engine"],
        model=row["model"],
        text=row["text"] or "",
        words=words,
        ms=float(row["ms"] or 0.0),
        error=row["error"],
        label_probs=tuple(row["label_probs"]) if row.get("label_probs") is not None else None,
        listens=tuple(LanguageListen.from_json(listen) for listen in row.get("listens") or ()),
        repeats=tuple(ForcedRepeat.from_json(r) for r in row["repeats"]) if row.get("repeats") is not None else None,
    )


def _values(row: dict[str, Any]) -> list[tuple[str, Any]]:
    """(column, value) in ``TRANSCRIPT_COLUMNS`` order; a column the row lacks is None."""
    return [(c, row.get(c)) for c in TRANSCRIPT_COLUMNS]


def write_transcripts(conn: psycopg.Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Upsert ``rows`` (one per clip and role; the clip's ``audio_quality`` row must exist). A
    column a row lacks (``label_probs``, ``listens``, ``repeats`` in logs written before they
    existed) is stored as NULL."""
    if not rows:
        return 0
    columns = sql.SQL(", ").join(map(sql.Identifier, TRANSCRIPT_COLUMNS))
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in TRANSCRIPT_COLUMNS[3:]
    )
    statement = sql.SQL(
        "INSERT INTO audio_transcripts ({cols}) VALUES ({vals})"
        " ON CONFLICT (file_hash, dataset, role) DO UPDATE SET {updates}, updated_at = now()"
    ).format(cols=columns, vals=sql.SQL(", ").join(sql.Placeholder() * len(TRANSCRIPT_COLUMNS)), updates=updates)
    ordered = sorted(rows, key=lambda r: (r["file_hash"], r["dataset"], r["role"]))  # same lock order everywhere
    json_columns = {"words", "fingerprint", "label_probs", "listens", "repeats"}
    with conn.cursor() as cur:
        cur.executemany(
            statement,
            [[Jsonb(v) if c in json_columns and v is not None else v for c, v in _values(r)] for r in ordered],
        )
    return len(ordered)


def read_transcripts(conn: psycopg.Connection, dataset: str, file_hashes: Sequence[str]) -> dict[str, dict[str, dict]]:
    """{file_hash: {role: row}} of the stored transcripts of ``file_hashes`` in ``dataset``."""
    from psycopg.rows import dict_row

    out: dict[str, dict[str, dict]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM audio_transcripts WHERE dataset = %s AND file_hash = ANY(%s)", (dataset, list(file_hashes))
        )
        for row in cur:
            out.setdefault(row["file_hash"], {})[row["role"]] = row
    return out
