"""A fixed end-to-end run whose outputs must not change when the code is restructured: the first
chapter-1 chunks of Alice generated (embedded ONNX, deterministic) and validated with both engines
and every MOS judge, through the CLI a user types. ``run_and_snapshot`` returns what the run
produced with the timing columns left out; ``tests/data/behaviour_golden*.json`` are snapshots
of it, one per kind of machine seen (``python -m helpers.behaviour URL`` from ``tests/`` adds
this machine's, named by its CPU).

Why several: Kokoro's wavs are bit-identical everywhere, and so is every decision (verdicts,
rules, keep, tier, reasons, MOS, signal metrics), but Whisper's decoding (ctranslate2 + numpy)
differs in the last digits between machines: AMD and Intel, AMD with AVX-512 VNNI and without,
and two AMD EPYC VMs of the same family and flags (other word confidences by up to 0.1, word
times by 0.08 s, a comma heard as a full stop), while the same machine gives the same snapshot
every time. So a run must equal one stored snapshot exactly, or else, on a machine not seen
before, equal one in everything but ``RECOGNIZER_LEVEL`` (the recognizers' texts, confidences and
word times, and the clip checks measured from those times): ``decisions``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from typer.testing import CliRunner

from helpers.cpu import FLAGS, WITHOUT_AVX512, cpuinfo

REPO_ROOT = Path(__file__).resolve().parents[2]
ALICE = REPO_ROOT / "data" / "books" / "alice.txt"


def cpu_vendor() -> str:
    return cpuinfo("vendor_id") or "unknown"


def cpu_kind() -> str:
    """The vendor, with ``-avx512_vnni`` where the CPU has that instruction set, ``-avx2`` where it
    has no AVX-512 at all (the int8 kernels differ, and so do the wav bytes)."""
    if "avx512_vnni" in FLAGS:
        return cpu_vendor() + "-avx512_vnni"
    return cpu_vendor() + ("-avx2" if WITHOUT_AVX512 else "")


GOLDEN_DIR = REPO_ROOT / "tests" / "data"
N_CHUNKS = 3

# Columns that a machine's Whisper rounding changes (see the module docstring): left out of
# ``decisions``. ``clip_checks`` holds silences and timing offsets measured from the word times
# (its verdicts are ``clip_reasons``, which stay).
RECOGNIZER_LEVEL = {
    "primary_text", "secondary_text", "primary_conf_mean", "primary_conf_min", "primary_conf_calibrated",
    "secondary_conf_mean", "secondary_conf_min", "secondary_conf_calibrated", "clip_checks",
    "confidence", "start_s", "end_s",
}  # fmt: skip
# Columns measured from the audio samples: Kokoro's int8 ONNX kernels round differently on CPUs
# with and without AVX-512, so the wav bytes (and every figure read off them) differ between such
# machines while every judgment stays: left out of ``judgments``.
AUDIO_LEVEL = {
    "file_hash", "clipping_pct", "dynamic_range_db", "energy_std", "peak_amplitude", "rms_db", "silence_pct",
    "spectral_centroid_hz", "spectral_rolloff_hz", "zero_crossing_rate", "speaker_similarity", "composite_mos",
    "mos_distillmos", "mos_dnsmos_bak", "mos_dnsmos_ovrl", "mos_dnsmos_p808", "mos_dnsmos_sig", "mos_nisqa",
    "mos_nisqa_col", "mos_nisqa_dis", "mos_nisqa_loud", "mos_nisqa_noi", "mos_scoreq_natural",
    "mos_scoreq_synthetic", "mos_utmosv2", "word_times", "duration_s",
}  # fmt: skip
# Columns that hold wall-clock times or run bookkeeping, not behaviour.
# ``fingerprints`` records what produced each group (code hashes included): bookkeeping too.
VOLATILE = {
    "created_at", "updated_at", "gen_ms", "gen_rtf", "primary_ms", "secondary_ms", "mos_ms", "run_id", "fingerprints",
}  # fmt: skip


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if hasattr(value, "isoformat"):
        return None
    return value if value is None or isinstance(value, (str, int, bool)) else float(value)


def run_and_snapshot(work_dir: Path, database_url: str) -> dict:
    """Generate and validate, then read back wav hashes and the rows (timings left out)."""
    import psycopg
    from psycopg.rows import dict_row

    from cli import app

    runner = CliRunner()
    env = {"DATABASE_URL": database_url}
    common = ["--work-dir", str(work_dir)]
    generated = runner.invoke(
        app,
        ["generate", "--book", str(ALICE), "--chapters", "1", "--limit", str(N_CHUNKS), "--workers", "1", *common],
        env=env,
        catch_exceptions=False,
    )
    assert generated.exit_code == 0, generated.output
    validated = runner.invoke(
        app,
        ["validate", str(work_dir / "datasets" / "main"), "--engines", "both", "--mos-mode", "all", *common],
        env=env,
        catch_exceptions=False,
    )
    assert validated.exit_code == 0, validated.output
    wavs = sorted((work_dir / "datasets" / "main").rglob("*.wav"))
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        quality = conn.execute("SELECT * FROM audio_quality ORDER BY path").fetchall()
        words = conn.execute("SELECT * FROM audio_words ORDER BY file_hash, word_index").fetchall()
    return {
        "wav_sha256": {p.relative_to(work_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in wavs},
        "audio_quality": [_clean(dict(row)) for row in quality],
        "audio_words": [_clean(dict(row)) for row in words],
    }


def load_goldens() -> dict[str, dict]:
    """Every stored snapshot, by file name."""
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(GOLDEN_DIR.glob("behaviour_golden*.json"))
    }


def decisions(snapshot: dict) -> dict:
    """``snapshot`` without the ``RECOGNIZER_LEVEL`` columns."""
    return {
        "wav_sha256": snapshot["wav_sha256"],
        **{
            table: [{k: v for k, v in row.items() if k not in RECOGNIZER_LEVEL} for row in snapshot[table]]
            for table in ("audio_quality", "audio_words")
        },
    }


def judgments(snapshot: dict) -> dict:
    """``decisions`` without the wav hashes and the ``AUDIO_LEVEL`` columns: what was fed, heard
    and judged (verdicts, rules, keep, tier, reasons, error rates)."""
    kept = decisions(snapshot)
    path_of = {row["file_hash"]: row["path"] for row in kept["audio_quality"]}
    words = sorted(kept["audio_words"], key=lambda row: (path_of.get(row["file_hash"], ""), row["word_index"]))
    return {
        "audio_quality": [_without_audio(row) for row in kept["audio_quality"]],
        "audio_words": [{"path": path_of.get(row["file_hash"]), **_without_audio(row)} for row in words],
    }


def _without_audio(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in AUDIO_LEVEL}


def write_snapshot(snapshot: dict, path: Path) -> None:
    path.write_text(json.dumps(snapshot, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":  # add this machine's snapshot (only on purpose: it pins behaviour)
    import sys
    import tempfile

    url = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = run_and_snapshot(Path(tmp) / "work", url)
    same = [name for name, golden in load_goldens().items() if golden == snapshot]
    if same:
        print(f"this machine's snapshot is already stored: {same[0]}")
        sys.exit(0)
    path = GOLDEN_DIR / f"behaviour_golden.{cpu_kind()}.json"
    n = 2
    while path.exists():
        path, n = GOLDEN_DIR / f"behaviour_golden.{cpu_kind()}-{n}.json", n + 1
    write_snapshot(snapshot, path)
    print(f"wrote {path}: {len(snapshot['wav_sha256'])} wavs, {len(snapshot['audio_words'])} word rows")
