"""A fixed end-to-end run whose outputs must not change when the code is restructured: the first
chapter-1 chunks of Alice generated (embedded ONNX, deterministic) and validated with both engines
and every MOS judge, through the CLI a user types. ``snapshot`` returns what the run produced
with the timing columns left out; ``tests/data/behaviour_golden.json`` holds the snapshot taken
on the code before the restructuring (``python -m helpers.behaviour`` from ``tests/`` rewrites it).

One snapshot per kind of CPU: Kokoro's wavs are bit-identical everywhere, but Whisper's decoding
(ctranslate2 + numpy) differs in the last digits between AMD and Intel machines of the same kind
(other confidences, a comma heard as a full stop), and neither ``CT2_USE_MKL=0`` nor a forced ISA
makes them agree. AMD machines with AVX-512 VNNI (int8 dot products in one instruction) differ
again from those without (word confidences by up to 0.05, word ends by 0.02 s; the same code gave
the same snapshot twice there). ``behaviour_golden.json`` is the AMD snapshot without VNNI,
``behaviour_golden.AuthenticAMD-avx512_vnni.json`` with it, ``behaviour_golden.GenuineIntel.json``
the Intel one; regenerating on a machine rewrites its kind's file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[2]
ALICE = REPO_ROOT / "data" / "books" / "alice.txt"


def _cpuinfo(field: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    return _cpuinfo("vendor_id") or "unknown"


def cpu_kind() -> str:
    """The vendor, with ``-avx512_vnni`` where the CPU has that instruction set."""
    return cpu_vendor() + ("-avx512_vnni" if "avx512_vnni" in _cpuinfo("flags").split() else "")


_GOLDEN_FILES = {
    "GenuineIntel": "behaviour_golden.GenuineIntel.json",
    "AuthenticAMD-avx512_vnni": "behaviour_golden.AuthenticAMD-avx512_vnni.json",
}
GOLDEN = (
    REPO_ROOT
    / "tests"
    / "data"
    / _GOLDEN_FILES.get(cpu_kind(), _GOLDEN_FILES.get(cpu_vendor(), "behaviour_golden.json"))
)
N_CHUNKS = 3

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


def load_golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


if __name__ == "__main__":  # regenerate the golden file (only on purpose: it pins behaviour)
    import sys
    import tempfile

    url = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = run_and_snapshot(Path(tmp) / "work", url)
    GOLDEN.write_text(json.dumps(snapshot, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}: {len(snapshot['wav_sha256'])} wavs, {len(snapshot['audio_words'])} word rows")
