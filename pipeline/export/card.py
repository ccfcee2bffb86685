"""The export's dataset card (``README.md``, Hugging Face card format) and ``export.json``.

Both are rendered from one ``facts`` dict built from the exported clips' own database rows, so
the card's figures are the database's: clips and seconds per voice and split, tiers, the verdict
distribution (sums of the ``n_<verdict>`` columns), validator engines and versions, TTS model and
voice recipes with licences, the source books and their public-domain status, the selection rules,
what was left out and why, and the command that produced the export.

Example::

    facts = build_facts(selection, exported, skipped, request)
    write_card(out_dir, facts)     # README.md + export.json
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.export.audio import SkippedClip
from pipeline.export.provenance import book_provenance, tts_provenance
from pipeline.export.selection import SELECTED_TAKE_DESCRIBE, Selection
from pipeline.export.values import plain
from pipeline.store.columns import VERDICT_NAMES

CARD_NAME = "README.md"
FACTS_NAME = "export.json"


@dataclass(frozen=True, slots=True)
class ExportedClip:
    split: str
    row: dict[str, Any]  # the clip's selected row (output + fact columns)
    seconds: float  # measured from the wav


def _left_out_reason(row: dict[str, Any]) -> str:
    if row.get("validate_error"):
        return "validation failed"
    if row.get("keep") is None and row.get("tier") is None:
        return "not validated"
    if (row.get("n_tts_failure") or 0) > 0:
        return "tts_failure words"
    if (row.get("n_ambiguous") or 0) > 0:
        return "ambiguous words"
    if row.get("keep") is False:
        return "keep is false (MOS or tier thresholds)"
    return "not matched by the selection rules"


def _per(exported: Sequence[ExportedClip], key) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for clip in exported:
        entry = table.setdefault(str(key(clip)), {"clips": 0, "seconds": 0.0, "splits": {}})
        entry["clips"] += 1
        entry["seconds"] += clip.seconds
        split = entry["splits"].setdefault(clip.split, {"clips": 0, "seconds": 0.0})
        split["clips"] += 1
        split["seconds"] += clip.seconds
    return table


def _engines(rows: Sequence[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    counts = Counter((r.get(f"{role}_engine"), r.get(f"{role}_model")) for r in rows if r.get(f"{role}_engine"))
    return [{"engine": e, "model": m, "clips": n} for (e, m), n in sorted(counts.items(), key=lambda kv: str(kv[0]))]


def _versions(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    seen: dict[str, set[str]] = {}
    for row in rows:
        for key, value in (row.get("versions") or {}).items():
            seen.setdefault(str(key), set()).add(json.dumps(plain(value)) if not isinstance(value, str) else value)
    return {key: sorted(values) for key, values in sorted(seen.items())}


def build_facts(
    selection: Selection,
    exported: Sequence[ExportedClip],
    skipped: Sequence[SkippedClip],
    *,
    fmt: str,
    command: str,
    split_plan: str | None,
    splits: Sequence[str],
    empty_splits: Sequence[str] = (),
    sample_rate: int | None,
    licence: str,
) -> dict[str, Any]:
    rows = [clip.row for clip in exported]
    selected = {row["file_hash"] for row in selection.rows}
    left_out = Counter(_left_out_reason(r) for r in selection.overview if r["file_hash"] not in selected)
    voices = _per(exported, lambda c: c.row.get("voice"))
    recipes = {str(r.get("voice")): r.get("voice_recipe") for r in rows}
    for voice, entry in voices.items():
        entry["recipe"] = recipes.get(voice)
    tts = Counter((r.get("tts_engine"), r.get("tts_model"), r.get("tts_version")) for r in rows)
    books = Counter(r.get("book") for r in rows)
    return plain(
        {
            "dataset": selection.dataset,
            "format": fmt,
            "created_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "command": command,
            "license": licence,
            "sample_rate": sample_rate,
            "totals": {"clips": len(exported), "seconds": sum(c.seconds for c in exported)},
            "splits": {
                "plan": split_plan,
                "names": list(splits),
                "empty": list(empty_splits),
                **{"clips": {s: sum(c.split == s for c in exported) for s in splits}},
                "seconds": {s: sum(c.seconds for c in exported if c.split == s) for s in splits},
            },
            "voices": voices,
            "books": [{**book_provenance(b), "clips": n} for b, n in sorted(books.items(), key=lambda kv: str(kv[0]))],
            "tts": [
                {**tts_provenance(e), "tts_model": m, "tts_version": v, "clips": n}
                for (e, m, v), n in sorted(tts.items(), key=lambda kv: str(kv[0]))
            ],
            "selection": {
                "rules": [rule.describe for rule in selection.rules] or ["every clip of the dataset"],
                "take": SELECTED_TAKE_DESCRIBE,
                "dataset_clips": len(selection.overview),
                "selected": len(selection.rows),
                "exported": len(exported),
                "skipped": [{"file_hash": s.file_hash, "path": s.path, "reason": s.reason} for s in skipped],
                "left_out": dict(left_out.most_common()),
                "tiers": dict(Counter(str(r.get("tier")) for r in rows).most_common()),
                "keep": dict(Counter(str(r.get("keep")).lower() for r in rows).most_common()),
                "human_review": None,  # filled once review decisions exist
                "heal": None,  # filled once heal picks one take per chunk
            },
            "validator": {
                "primary": _engines(rows, "primary"),
                "secondary": _engines(rows, "secondary"),
                "versions": _versions(rows),
                "runs": [
                    {k: run[k] for k in ("run_id", "args", "versions", "finished_at")}
                    for run in selection.runs
                    if run["command"] == "validate"
                ],
            },
            "verdicts": {v: sum(r.get(f"n_{v}") or 0 for r in rows) for v in VERDICT_NAMES},
            "words": sum(r.get("n_words") or 0 for r in rows),
            "insertions": sum(r.get("n_insertions") or 0 for r in rows),
            "mos": {
                "judges": sorted({j for r in rows for j in (r.get("mos_judges") or [])}),
                "scored": sum(r.get("composite_mos") is not None for r in rows),
            },
        }
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3f} h"


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _yaml_header(facts: dict[str, Any]) -> list[str]:
    licence = facts["license"]
    lines = ["---", f"license: {licence}"]
    if licence == "other":
        lines.append("license_name: public-domain-text-and-apache-2.0-voices")
    lines += [
        "language:",
        "- en",
        "task_categories:",
        "- text-to-speech",
        "- automatic-speech-recognition",
        f"pretty_name: {json.dumps(facts['dataset'] + ' (Kokoro-82M synthetic speech)')}",
        "size_categories:",
        f"- {_size_category(facts['totals']['clips'])}",
        "tags:",
        "- synthetic-speech",
        "- kokoro",
        "- audiobook",
    ]
    if facts["format"] == "hf":
        lines += ["configs:", "- config_name: default", "  data_files:"]
        for split in facts["splits"]["names"]:
            lines += [f"  - split: {split}", f"    path: data/{split}-*"]
    return [*lines, "---"]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]


def render_card(facts: dict[str, Any]) -> str:
    splits = facts["splits"]["names"]
    totals = facts["totals"]
    lines = _yaml_header(facts)
    lines += [
        "",
        f"# {facts['dataset']}",
        "",
        f"{totals['clips']} clips, {_hours(totals['seconds'])} of speech synthesized with Kokoro-82M from "
        "public-domain books and checked word by word by two speech recognizers"
        f" (exported as `{facts['format']}`).",
        "",
        "## Clips per voice and split",
        "",
    ]
    voice_rows = []
    for voice, entry in facts["voices"].items():
        per_split = [
            f"{entry['splits'].get(s, {}).get('clips', 0)} / {_hours(entry['splits'].get(s, {}).get('seconds', 0.0))}"
            for s in splits
        ]
        voice_rows.append([voice, entry["recipe"], *per_split, entry["clips"], _hours(entry["seconds"])])
    total_row = [f"{facts['splits']['clips'][s]} / {_hours(facts['splits']['seconds'][s])}" for s in splits]
    voice_rows.append(["**all**", "", *total_row, totals["clips"], _hours(totals["seconds"])])
    lines += _table(["voice", "recipe", *[f"{s} (clips / hours)" for s in splits], "clips", "hours"], voice_rows)
    if facts["splits"]["plan"]:
        lines += ["", f"Splits: {facts['splits']['plan']}."]
        if facts["splits"]["empty"]:
            lines[-1] += f" No clips fell in: {', '.join(facts['splits']['empty'])} (too few sentence groups)."
    lines += ["", "## Sources and licences", ""]
    for book in facts["books"]:
        title = book.get("title") or "untitled"
        lines.append(f"- Book `{book['id']}`: {title}; {book['status']} ({book['clips']} clips).")
    for tts in facts["tts"]:
        lines.append(
            f"- Speech: {tts['model']} ({tts['engine']}, {tts['tts_model']}, {tts['tts_version']}), licence"
            f" {tts['licence']}; voices: {tts.get('voices_licence', 'unknown')} ({tts['clips']} clips)."
        )
    lines.append(f"- This export's licence field: `{facts['license']}`.")
    selection = facts["selection"]
    lines += ["", "## How clips were selected", ""]
    lines += [f"- {rule}" for rule in selection["rules"]]
    lines.append(f"- {selection['take'][0].upper()}{selection['take'][1:]}.")
    lines += [
        f"- {selection['selected']} of the dataset's {selection['dataset_clips']} clips selected,"
        f" {selection['exported']} exported, {len(selection['skipped'])} skipped (wav missing or changed).",
        "- Tiers of the exported clips: " + ", ".join(f"{t} {n}" for t, n in selection["tiers"].items()) + ".",
        "- `keep` of the exported clips: " + ", ".join(f"{k} {n}" for k, n in selection["keep"].items()) + ".",
    ]
    if selection["left_out"]:
        reasons = ", ".join(f"{r}: {n}" for r, n in selection["left_out"].items())
        lines.append(f"- Left out, by reason: {reasons}.")
    lines.append("- Human review: none recorded. Heal (re-synthesis of failed chunks): none recorded.")
    validator = facts["validator"]
    lines += ["", "## Validation", ""]
    if not any(validator[role] for role in ("primary", "secondary")):
        lines.append("- no recognizer recorded for these clips")
    for role in ("primary", "secondary"):
        for engine in validator[role]:
            lines.append(f"- {role} recognizer: {engine['engine']} `{engine['model']}` ({engine['clips']} clips)")
    for key, values in validator["versions"].items():
        lines.append(f"- clip versions `{key}`: {', '.join(values)}")
    for run in validator["runs"]:
        args = ", ".join(f"{k}={v}" for k, v in sorted(run["args"].items()))
        versions = ", ".join(f"{k} {v}" for k, v in sorted(run["versions"].items())) or "not recorded"
        lines.append(f"- validate run {run['run_id']} ({run['finished_at']}): {args}; versions: {versions}")
    words = f"{facts['words']} label words and {facts['insertions']} insertions"
    lines += ["", f"Verdicts over the exported clips' {words}:", ""]
    lines += _table(["verdict", "words"], [[v, n] for v, n in facts["verdicts"].items()])
    if facts["mos"]["judges"]:
        lines += ["", f"MOS judges: {', '.join(facts['mos']['judges'])} ({facts['mos']['scored']} clips scored)."]
    lines += ["", "## Reproduce", "", "```bash", facts["command"], "```", ""]
    lines += [f"Created {facts['created_at']}; the same facts, for machines, are in `{FACTS_NAME}`.", ""]
    return "\n".join(lines)


def write_card(out_dir: Path, facts: dict[str, Any]) -> None:
    (out_dir / FACTS_NAME).write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / CARD_NAME).write_text(render_card(facts), encoding="utf-8")
