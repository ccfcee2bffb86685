"""The benchmark's report: markdown tables (per fault type, clean clips, every clean clip not
kept) with the machine they ran on, and a JSON file with everything, clip by clip."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from faultset.build import ClipSpec
from faultset.score import ClipOutcome, KindSummary

_PACKAGES = ("onnxruntime", "kokoro", "misaki", "ctranslate2", "faster-whisper")


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 2**20:.0f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def _pct(part: int | None, whole: int) -> str:
    return "-" if part is None or not whole else f"{100.0 * part / whole:.0f} % ({part}/{whole})"


def _tiers(tiers: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in tiers.items())


def fault_table(rows: Sequence[KindSummary], cascade: bool) -> list[str]:
    head = "| fault | clips | caught at the word | not kept | caught and not kept | flagged anywhere | tiers |"
    sep = "|---|---|---|---|---|---|---|"
    if cascade:
        head, sep = head + " cascade escalated |", sep + "---|"
    lines = [head, sep]
    for row in rows:
        if row.kind == "clean":
            continue
        n = row.clips - row.missing
        cells = [row.kind, str(row.clips), _pct(row.caught_at_word, n), _pct(row.not_kept, n), _pct(row.detected, n)]
        cells += [_pct(row.flagged_anywhere, n), _tiers(row.tiers)]
        if cascade:
            cells.append(_pct(row.escalated, n))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def clean_table(row: KindSummary, cascade: bool) -> list[str]:
    n = row.clips - row.missing
    lines = [
        "| clean clips | with a tts_failure word | not kept | any word flagged | tiers |"
        + (" cascade escalated |" if cascade else ""),
        "|---|---|---|---|---|" + ("---|" if cascade else ""),
    ]
    cells = [str(row.clips), _pct(row.tts_failure_clips, n), _pct(row.not_kept, n), _pct(row.flagged_anywhere, n)]
    cells.append(_tiers(row.tiers))
    if cascade:
        cells.append(_pct(row.escalated, n))
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def _heard(flag: dict) -> str:
    said = f"{flag['primary_word'] or '∅'} / {flag['secondary_word'] if flag['secondary_word'] is not None else '-'}"
    where = f"+@{flag['at']}" if flag["insertion"] else f"{flag['label_word']}@{flag['at']}"
    return f"{where} → {said}: {flag['verdict']} ({flag['rule']})"


def clean_not_kept(specs: dict[str, ClipSpec], outcomes: Sequence[ClipOutcome]) -> list[str]:
    rejected = [o for o in outcomes if o.kind == "clean" and o.keep is False]
    if not rejected:
        return ["Every clean clip was kept."]
    lines = [
        "| clip | voice | words flagged (label@index → primary / secondary: verdict (rule)) | reasons |",
        "|---|---|---|---|",
    ]
    for o in rejected:
        spec = specs[o.clip]
        flags = "; ".join(_heard(f) for f in o.flags) or "none"
        reasons = ", ".join(o.reject_reasons or []) or "-"
        lines.append(f"| {o.clip} ({spec.book_id} #{spec.chunk_index}) | {o.voice} | {flags} | {reasons} |")
    return lines


def markdown(
    summaries: Sequence[KindSummary],
    specs: Sequence[ClipSpec],
    outcomes: Sequence[ClipOutcome],
    context: dict,
) -> str:
    cascade = any(row.escalated is not None for row in summaries)
    m = context["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory']} RAM, no GPU used; {m['platform']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v),
        f"Set: `{context['dataset']}`: {len(specs)} clips, books {', '.join(context['books'])}, "
        f"voices {', '.join(context['voices'])}, seed {context['seed']}; "
        f"{context['audio_s']:.0f} s of audio (clips {context['min_s']:.1f}-{context['max_s']:.1f} s).",
        f"Validate: engines both ({context['engines']}), mos none; wall {context['validate_wall_s']}.",
        "",
    ]
    lines += fault_table(summaries, cascade)
    clean = [row for row in summaries if row.kind == "clean"]
    if clean:
        lines += ["", *clean_table(clean[0], cascade)]
    lines += ["", "Clean clips not kept:", "", *clean_not_kept({s.clip: s for s in specs}, outcomes)]
    missing = sum(row.missing for row in summaries)
    if missing:
        lines += ["", f"{missing} clip(s) have no validate result (see the JSON)."]
    return "\n".join(lines) + "\n"


def write_json(
    path: Path,
    summaries: Sequence[KindSummary],
    specs: Sequence[ClipSpec],
    outcomes: Sequence[ClipOutcome],
    context: dict,
    words: dict[str, list[dict]],
) -> None:
    """Everything: context, per-kind summaries, and per clip its spec, outcome and word rows."""
    by_clip = {o.clip: o for o in outcomes}
    clips = [
        {"spec": asdict(spec), "outcome": asdict(by_clip[spec.clip]), "words": words.get(spec.clip, [])}
        for spec in specs
    ]
    payload = {"context": context, "summary": [row.as_dict() for row in summaries], "clips": clips}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
