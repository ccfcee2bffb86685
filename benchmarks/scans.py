"""Resume and re-verdict speed (issue 15 targets), through the CLI a user types.

1. ``validate`` a generated dataset (e.g. the whole of Alice), then the same command again:
   the rerun's wall time (a fresh process: imports included) and what it transcribed. Then
   the same command after a rule change (another strict WER bound: the verdicts' fingerprint
   changes, nothing else does), with each checkout (``--baseline``), alternating.
2. ``validate --reverdict`` over many stored clips: the validated clips' rows and transcripts are
   replicated N times under new file hashes into a scratch dataset (a book's clips are too few for
   a rate: a process starts in about a second), then re-judged twice per worker count: first with
   the stored digests of the decisions dropped (every row is rewritten, as after a rule change
   that changes every clip), then the same command again (nothing changed: no row rewritten);
   clips/s from the wall time of each command (a fresh process, imports included).

    python benchmarks/scans.py --dataset-dir work/datasets/alice-full --copies 33

``--baseline DIR`` runs every re-verdict case with another checkout's CLI too (e.g. a git
worktree of an earlier commit), alternating with this one on the same replicated clips, so two
versions are measured side by side in one run.

Needs DATABASE_URL. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
VALIDATE = ("--engines", "cascade", "--mos-mode", "none")
CPU_S: dict[str, float] = {}  # user + system CPU seconds of each command's process tree


def run(args: list[str], work: Path, checkout: Path = REPO, **env: str) -> tuple[float, str]:
    started = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, str(checkout / "cli.py"), *args, "--work-dir", str(work)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "200", **env},
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S[" ".join(args[:2])] = round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 1)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, done.stdout


def _replicate_table(conn, table: str, source: str, target: str, copies: int, condition: str = "TRUE") -> None:
    """``copies`` copies of ``table``'s rows of dataset ``source`` (those ``condition`` holds for)
    as dataset ``target``, each under the file hash ``<hash>-<n>``; generated columns are left to
    the database."""
    columns = [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " AND column_name NOT IN ('file_hash', 'dataset') AND is_generated = 'NEVER'",
            (table,),
        )
    ]
    cols = ", ".join(columns)
    conn.execute(
        f"INSERT INTO {table} (file_hash, dataset, {cols})"
        f" SELECT t.file_hash || '-' || n, %s, {cols} FROM {table} t, generate_series(1, %s) n"
        f" WHERE t.dataset = %s AND {condition}",
        (target, copies, source),
    )


def replicate(url: str, source: str, target: str, copies: int) -> int:
    """``copies`` copies of ``source``'s validated rows, word rows and transcripts as ``target``."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM audio_quality WHERE dataset = %s", (target,))
        _replicate_table(conn, "audio_quality", source, target, copies, "t.n_words IS NOT NULL")
        _replicate_table(conn, "audio_transcripts", source, target, copies)
        _replicate_table(conn, "audio_words", source, target, copies)
        return conn.execute("SELECT count(*) FROM audio_quality WHERE dataset = %s", (target,)).fetchone()[0]


def forget_decisions(url: str, dataset: str) -> None:
    """Drop the stored digests of what the rules decided: the next re-verdict rewrites every row."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE audio_quality SET fingerprints = fingerprints - 'verdict_output' WHERE dataset = %s", (dataset,)
        )


def vacuum(url: str) -> None:
    """Dead row versions of earlier rewrites cleared and planner statistics fresh before each
    measured command (a server with autovacuum off, as on the benchmark machine, would otherwise
    make every run slower than the one before)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) audio_quality, audio_words, audio_transcripts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-dir", type=Path, required=True, help="a generated dataset (manifest.jsonl)")
    parser.add_argument("--work-dir", type=Path, default=Path("work"))
    parser.add_argument("--copies", type=int, default=300, help="replicas of the validated clips to re-verdict")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="re-verdict worker processes to try")
    parser.add_argument("--baseline", type=Path, help="another checkout whose re-verdict runs beside this one's")
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    dataset = args.dataset_dir.resolve().name
    # the generation rows, as `pipeline generate` writes them with a database
    run(["db", "sync", "--dataset", dataset], args.dataset_dir.resolve().parents[1])
    source = ["validate", str(args.dataset_dir), "--dataset", dataset, *VALIDATE]
    first_s, _ = run(source, args.work_dir)
    rerun_s, rerun_out = run(source, args.work_dir)
    transcribed = re.search(r"transcribed / reused\s*│\s*(.*?)\s*│", rerun_out)
    skipped = re.search(r"skipped \(stored results up to date\)\s*│\s*(\d+)", rerun_out)
    checkouts = {"this": REPO, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    # a rule change (the verdicts' fingerprint differs, nothing else): validate again, each
    # checkout twice (strict WER bound 0.001, then back to 0.02), alternating
    rule_change = {}
    for strict in ("0.001", "0.02"):
        for name, checkout in checkouts.items():
            wall, output = run(source, args.work_dir, checkout, PIPELINE_STRICT_WER=strict)
            again = re.search(r"judged again \(only the rules changed\)\s*│\s*(\d+)", output)
            used = re.search(r"transcribed / reused\s*│\s*(.*?)\s*│", output)
            rule_change.setdefault(name, []).append(
                {
                    "strict_wer": strict,
                    "wall_s": round(wall, 1),
                    "cpu_s": CPU_S["validate " + str(args.dataset_dir)],
                    "judged_again": int(again.group(1)) if again else None,
                    "transcribed_reused": used.group(1) if used else None,
                }
            )
    clips = replicate(url, dataset, "bench-reverdict", args.copies)
    out = {
        "validate_after_rule_change": rule_change,
        "load_average": os.getloadavg(),
        "first_validate_s": round(first_s, 1),
        "rerun_wall_s": round(rerun_s, 2),
        "rerun_skipped": int(skipped.group(1)) if skipped else None,
        "rerun_transcribed_reused": transcribed.group(1) if transcribed else None,
        "reverdict_clips": clips,
    }
    for workers in args.workers:
        for name, checkout in checkouts.items():
            # every row rewritten (as after a rule change that changes every clip: no stored digest
            # matches), then the same command again (nothing changed: no row rewritten)
            forget_decisions(url, "bench-reverdict")
            for case in ("rewrite_all", "unchanged"):
                vacuum(url)
                command = ["validate", "--reverdict", "--dataset", "bench-reverdict"]
                wall, output = run(command, args.work_dir, checkout, PIPELINE_WORKERS=str(workers))
                rate = re.search(r"\((\d+) clips/s", output)
                written = re.search(r"(\d+) written, (\d+) unchanged", output)
                prefix = "" if name == "this" else "baseline_"
                out[f"{prefix}reverdict_{case}_workers_{workers}"] = {
                    "wall_s": round(wall, 1),
                    "cpu_s": CPU_S["validate --reverdict"],
                    "clips_per_s_wall": round(clips / wall, 1),
                    "clips_per_s_in_run": int(rate.group(1)) if rate else None,
                    "written_unchanged": [int(written.group(1)), int(written.group(2))] if written else None,
                    "load_average_after": os.getloadavg(),
                }
    out["cpu_s"] = CPU_S
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
