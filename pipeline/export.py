"""``pipeline export``: the selected clips of a dataset become a self-contained training set.

Rows come from ``audio_quality`` (one per clip), filtered by a user-supplied SQL boolean over
that table; audio comes from the wavs the rows point at. Two formats:

- ``hf``: a Hugging Face ``datasets.Dataset`` (``save_to_disk``) whose ``audio`` column holds the
  wav bytes themselves (``datasets.Audio``, 24 kHz), so the export never points back at the work dir.
- ``jsonl``: ``metadata.jsonl`` plus the wavs copied under ``audio/``; each line's ``file_name`` is
  relative to the export folder (the ``audiofolder`` convention, so ``load_dataset("audiofolder",
  data_dir=...)`` reads it as is).

Both are built in a hidden sibling folder and renamed into place, so a crash never leaves half an
export behind. Example::

    report = export_dataset(store, dataset="main", where="keep", out_dir=Path("work/exports/main-hf"),
                            fmt="hf", columns=None, datasets_dir=settings.datasets_dir)
    print(report.rows, report.hours, len(report.skipped))
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import json
import logging
import math
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import psycopg
import soundfile as sf
from psycopg import sql

from pipeline.store.connection import StoreUnavailable
from pipeline.tts.backend import SAMPLE_RATE

log = logging.getLogger(__name__)

ExportFormat = Literal["hf", "jsonl"]
FORMATS: tuple[str, ...] = ("hf", "jsonl")
DEFAULT_COLUMNS = ("voice", "duration_s", "tier", "keep", "adjusted_wer", "composite_mos", "book", "chunk_index")
ALWAYS_COLUMNS = ("text", "file_hash")  # every export carries these, next to the audio
DEFAULT_TIMEOUT_S = 60.0
METADATA_NAME = "metadata.jsonl"
AUDIO_DIR = "audio"
_EXPORT_MARKERS = (METADATA_NAME, "state.json", "dataset_info.json")  # files every export has
_HF_BATCH_BYTES = 64 << 20  # flush an Arrow record batch at about this much audio


class ExportError(ValueError):
    """A user-facing problem with an export request (bad filter, unknown column, nothing selected)."""


@dataclass(frozen=True, slots=True)
class SkippedClip:
    file_hash: str
    path: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ExportReport:
    dataset: str
    fmt: str
    out_dir: Path
    columns: tuple[str, ...]  # the metadata columns next to audio, in order
    rows: int  # clips written
    audio_s: float  # seconds of audio written
    skipped: tuple[SkippedClip, ...]

    @property
    def selected(self) -> int:
        return self.rows + len(self.skipped)

    @property
    def hours(self) -> float:
        return self.audio_s / 3600.0


# --- selection -----------------------------------------------------------------------------------


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
    columns = list(ALWAYS_COLUMNS)
    for column in wanted:
        if column not in columns:
            columns.append(column)
    return columns


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


def select_rows(
    store,
    *,
    dataset: str,
    where: str | None,
    columns: Sequence[str] | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """The rows an export would write: (rows, output columns, column -> Postgres type).

    ``where`` is user-supplied SQL. It runs inside a READ ONLY transaction with a statement
    timeout, as one statement (psycopg's extended protocol refuses a second one), wrapped as
    ``... WHERE dataset = %s AND (<where>)``; rows of another dataset are refused in case the
    filter closed the parenthesis itself.
    """
    where = where.strip() if where else None
    label = f"the filter {where!r}" if where else f"the selection of dataset {dataset!r}"
    conn = store.connect()
    try:
        cur = conn.cursor()
        try:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(max(1, int(timeout_s * 1000))),))
            available = _table_columns(cur)
            output = _output_columns(columns, available)
            selected = list(dict.fromkeys(["dataset", "path", *output]))
            filter_sql = sql.SQL("")
            if where:
                # The filter's own "%" must reach the server as is, not as a placeholder.
                filter_sql = sql.SQL(" AND (\n{}\n)").format(sql.SQL(where.replace("%", "%%")))
            query = sql.SQL(
                "SELECT {cols} FROM audio_quality WHERE dataset = %s{filter}\n"
                "ORDER BY book NULLS LAST, voice NULLS LAST, chapter_index NULLS LAST, chunk_index NULLS LAST,"
                " path, file_hash"
            ).format(cols=sql.SQL(", ").join(map(sql.Identifier, selected)), filter=filter_sql)
            cur.execute(query, (dataset,))
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
            if not rows:
                raise ExportError(_describe_empty(cur, dataset, where))
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
    return rows, output, {c: available[c] for c in output}


# --- values ----------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as JSON-native Python (Decimal, numpy, datetime, bytes, NaN handled)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, decimal.Decimal):
        return plain(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)  # uuid, Path, ranges, inet, ...


_HF_SCALARS = {
    "bool": "bool",
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "float4": "float32",
    "float8": "float64",
    "numeric": "float64",
}


def _hf_feature(udt: str):
    from datasets import List, Value

    if udt.startswith("_"):
        return List(_hf_feature(udt[1:]))
    return Value(_HF_SCALARS.get(udt, "string"))  # text, json (as a JSON string), timestamps (ISO), ...


def _hf_value(value: Any, udt: str) -> Any:
    if value is None:
        return None
    if udt.startswith("_"):
        return [_hf_value(v, udt[1:]) for v in value]
    if udt in ("json", "jsonb"):
        return json.dumps(plain(value), ensure_ascii=False, sort_keys=True)
    converted = plain(value)
    if udt in _HF_SCALARS or converted is None:
        return converted
    return converted if isinstance(converted, str) else json.dumps(converted, ensure_ascii=False)


# --- audio -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Clip:
    row: dict[str, Any]
    name: str  # path inside the export (posix, relative)
    data: bytes
    seconds: float


def _export_name(path: str, file_hash: str) -> str:
    """The dataset-relative path, kept as is; absolute or escaping paths go under external/."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if not posix.is_absolute() and ".." not in posix.parts and posix.name:
        return posix.as_posix()
    return f"external/{file_hash[:16]}_{posix.name or 'clip.wav'}"


def _read_clip(path: str | None, file_hash: str, dataset_dir: Path, verify_hash: bool) -> tuple[bytes, float] | str:
    """(wav bytes, seconds), or why the clip cannot be exported."""
    if not path:
        return "the row has no path"
    source = Path(path) if Path(path).is_absolute() else dataset_dir / path
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        return f"wav missing: {source}"
    except OSError as exc:
        return f"wav unreadable: {source}: {exc.strerror or exc}"
    if verify_hash and hashlib.sha256(data).hexdigest() != file_hash:
        return f"wav changed since it was scored (sha256 differs from file_hash): {source}"
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError) as exc:
        return f"not a readable audio file: {source}: {exc}"
    return data, info.frames / info.samplerate if info.samplerate else 0.0


def _load_clips(
    rows: Sequence[dict[str, Any]],
    dataset_dir: Path,
    skipped: list[SkippedClip],
    *,
    verify_hash: bool,
) -> Iterator[_Clip]:
    """The rows' audio, one clip at a time; what cannot be exported goes to ``skipped``."""
    names: dict[str, str] = {}
    for row in rows:
        file_hash, path = row["file_hash"], row["path"]
        loaded = _read_clip(path, file_hash, dataset_dir, verify_hash)
        name = _export_name(path, file_hash) if path else ""
        if not isinstance(loaded, str) and name in names:
            loaded = f"same file as the row {names[name][:16]}, already exported: {path}"
        if isinstance(loaded, str):
            skipped.append(SkippedClip(file_hash, path, loaded))
            log.debug("skipped %s: %s", path or file_hash, loaded)
            continue
        names[name] = file_hash
        yield _Clip(row, name, *loaded)


# --- writers ---------------------------------------------------------------------------------


def _metadata(clip: _Clip, columns: Sequence[str]) -> dict[str, Any]:
    row = dict(clip.row)
    if "duration_s" in columns and row.get("duration_s") is None:
        row["duration_s"] = clip.seconds
    return {c: row[c] for c in columns}


def _write_hf(clips: Iterator[_Clip], columns: list[str], types: dict[str, str], stage: Path, progress) -> tuple:
    import datasets
    import pyarrow as pa

    features = datasets.Features(
        {"audio": datasets.Audio(sampling_rate=SAMPLE_RATE), **{c: _hf_feature(types[c]) for c in columns}}
    )
    schema = features.arrow_schema
    # Arrow rows are written straight to a stream file (the audio feature's storage is
    # {bytes, path}): bounded memory, and no audio codec is needed to build the dataset.
    arrow_path = stage / "build.arrow"
    count, seconds = 0, 0.0
    with pa.OSFile(str(arrow_path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        batch: list[dict[str, Any]] = []
        batch_bytes = 0
        for clip in clips:
            record = {c: _hf_value(v, types[c]) for c, v in _metadata(clip, columns).items()}
            record["audio"] = {"bytes": clip.data, "path": clip.name}
            batch.append(record)
            batch_bytes += len(clip.data)
            count, seconds = count + 1, seconds + clip.seconds
            if batch_bytes >= _HF_BATCH_BYTES:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                batch, batch_bytes = [], 0
            progress()
        if batch:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
    if count:
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # the caller shows its own progress
        try:
            dataset = datasets.Dataset.from_file(str(arrow_path))
            dataset.save_to_disk(str(stage / "out"))
            del dataset
        finally:
            if bars:
                datasets.enable_progress_bars()
    return count, seconds


def _write_jsonl(clips: Iterator[_Clip], columns: list[str], stage: Path, progress) -> tuple:
    out = stage / "out"
    (out / AUDIO_DIR).mkdir(parents=True)
    count, seconds = 0, 0.0
    with (out / METADATA_NAME).open("w", encoding="utf-8") as handle:
        for clip in clips:
            target = out / AUDIO_DIR / clip.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(clip.data)
            line = {"file_name": f"{AUDIO_DIR}/{clip.name}", **plain(_metadata(clip, columns))}
            handle.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
            count, seconds = count + 1, seconds + clip.seconds
            progress()
    return count, seconds


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        return
    if out_dir.exists() and not overwrite:
        raise ExportError(f"{out_dir} already exists (pass overwrite / --overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder")
    if out_dir.exists() and not any((out_dir / name).is_file() for name in _EXPORT_MARKERS):
        # --overwrite replaces an earlier export, never a folder of something else (a dataset dir).
        raise ExportError(f"{out_dir} exists and is not an export; refusing to replace it")


def _publish(built: Path, out_dir: Path) -> None:
    """Move the finished export into place; an existing one is swapped out, then removed."""
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        built.rename(out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    out_dir.rename(old)
    built.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def export_dataset(
    store,
    *,
    dataset: str,
    where: str | None,
    out_dir: Path,
    fmt: ExportFormat,
    columns: list[str] | None,
    datasets_dir: Path,
    overwrite: bool = False,
    verify_hash: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> ExportReport:
    """Write the clips of ``dataset`` that match ``where`` to ``out_dir`` as ``fmt``.

    ``columns`` are audio_quality columns written next to ``audio``, ``text`` and ``file_hash``
    (None = ``DEFAULT_COLUMNS``). A row's ``path`` is relative to ``<datasets_dir>/<dataset>/`` or
    absolute; rows whose wav is missing, unreadable or (``verify_hash``) no longer the one scored
    are skipped and listed in the report. ``progress(done, total)`` is called after each clip.
    Raises ExportError (a ValueError) for a bad filter or column, an empty selection, or an
    existing ``out_dir`` without ``overwrite``; nothing is written then.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    rows, output, types = select_rows(store, dataset=dataset, where=where, columns=columns, timeout_s=timeout_s)

    skipped: list[SkippedClip] = []
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done + len(skipped), len(rows))

    clips = _load_clips(rows, Path(datasets_dir) / dataset, skipped, verify_hash=verify_hash)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        if fmt == "hf":
            count, seconds = _write_hf(clips, output, types, stage, tick)
        else:
            count, seconds = _write_jsonl(clips, output, stage, tick)
        if not count:
            first = skipped[0].reason if skipped else "no clips"
            raise ExportError(f"none of the {len(rows)} selected clips could be exported (first: {first})")
        _publish(stage / "out", out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return ExportReport(
        dataset=dataset,
        fmt=fmt,
        out_dir=out_dir,
        columns=tuple(output),
        rows=count,
        audio_s=seconds,
        skipped=tuple(skipped),
    )
