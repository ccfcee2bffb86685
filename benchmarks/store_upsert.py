"""Upsert rate into ``audio_quality``: row by row (executemany) vs bulk (COPY + one merge).

Both paths run the same merge SQL on the same rows in one run, into a fresh scratch database
on the server given by ``--url`` (default: ``DATABASE_URL``, else the embedded server), first
as inserts (empty table) then as updates (rerun over existing rows).

    python benchmarks/store_upsert.py --rows 10000
"""

from __future__ import annotations

import argparse
import os
import uuid

import psycopg
from psycopg.conninfo import make_conninfo

from pipeline.settings import Settings
from pipeline.store.connection import resolve_url
from pipeline.store.store import Store
from pipeline.tts.backend import SAMPLE_RATE


def rows_for(n: int, dataset: str) -> list[dict]:
    return [
        {
            "file_hash": uuid.uuid5(uuid.NAMESPACE_OID, f"{dataset}{i}").hex * 2,
            "dataset": dataset,
            "path": f"alice/af_heart/chunk_{i:05d}.wav",
            "text": "Alice was beginning to get very tired of sitting by her sister on the bank.",
            "book": "alice",
            "chunk_index": i,
            "voice": "af_heart",
            "voice_recipe": "af_heart",
            "speed": 1.0,
            "tts_engine": "kokoro-onnx",
            "gen_ms": 5000.0,
            "gen_rtf": 0.3,
            "gen_device": "cpu",
            "duration_s": 18.5,
            "sample_rate": SAMPLE_RATE,
            "versions": {"tts": "kokoro-onnx+6e742170d309"},
        }
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    server = args.url or resolve_url(None, Settings().work_dir)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("show server_version").fetchone()[0]
    try:
        store = Store(make_conninfo(server, dbname=name))
        store.migrate()
        print(f"PostgreSQL {version}, {args.rows} rows per pass\n")
        print("| path | pass | seconds | rows/s |")
        print("|---|---|---|---|")
        for bulk, dataset in ((False, "rows"), (True, "bulk")):
            rows = rows_for(args.rows, dataset)
            for label in ("insert", "update"):
                result = store.upsert("generation", rows, bulk=bulk)
                path = "bulk (COPY + merge)" if bulk else "row by row (executemany)"
                print(f"| {path} | {label} | {result.seconds:.2f} | {result.rows / result.seconds:,.0f} |")
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
