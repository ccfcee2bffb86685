"""The reject pile: the chunks whose selected take is still not kept after heal, as a short,
actionable list (``pipeline export --rejects --format csv|jsonl``): the label, where it is in the
book, the voice, what each engine heard, the reasons, the attempts spent and every attempt's
path. A dataset heal never ran on lists its clips that are not kept (no attempts spent)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.heal.selection import Take, choose
from pipeline.heal.state import ClipRow, by_group, load_clips

REJECT_FORMATS = ("csv", "jsonl")


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    step: str  # generate | lexicon | speed | split | backend | candidate
    part: str  # "" whole chunk, "a"/"b" halves
    path: str
    keep: bool | None
    reasons: tuple[str, ...]
    adjusted_wer: float | None
    heard: dict[str, str]  # engine -> what it wrote


@dataclass(frozen=True, slots=True)
class Reject:
    book: str
    chapter_index: int | None
    chunk_index: int
    chunk: str  # chunk_00025 (the stable id of the chunk)
    voice: str
    label: str
    heard: dict[str, str]  # what each engine heard in the selected take (halves joined)
    reasons: tuple[str, ...]  # the selected take's reasons
    attempts: int  # re-syntheses spent (generate's clip not counted)
    selected: tuple[str, ...]  # path(s) of the selected take
    tried: tuple[Attempt, ...]  # every validated clip of the chunk, in attempt order


def _heard(row: ClipRow) -> dict[str, str]:
    out = {}
    for engine, text in ((row.primary_engine, row.primary_text), (row.secondary_engine, row.secondary_text)):
        if engine and text is not None:
            out[engine] = text
    return out


def _selected_take(rows: Sequence[ClipRow]) -> Take | None:
    """The stored selection, or (heal never ran) the best take."""
    chosen = tuple(sorted((r for r in rows if r.selected), key=lambda r: r.chunk_part or ""))
    return Take(chosen) if chosen else choose(rows)


def reject_pile(store, dataset: str) -> list[Reject]:
    """The dataset's rejects in book order (book, voice, chunk)."""
    out = []
    for (book, voice, index), rows in sorted(by_group(load_clips(store, dataset)).items()):
        take = _selected_take(rows)
        if take is not None and take.kept:
            continue
        whole = next((r for r in rows if r.attempt == 0 and r.chunk_part is None), rows[0])
        heard: dict[str, str] = {}
        for clip in take.clips if take else ():
            for engine, text in _heard(clip).items():
                heard[engine] = f"{heard[engine]} {text}".strip() if engine in heard else text
        tried = tuple(
            Attempt(
                r.attempt,
                r.heal_step or "generate",
                r.chunk_part or "",
                r.path,
                r.keep,
                tuple(r.reasons),
                r.adjusted_wer,
                _heard(r),
            )  # fmt: skip
            for r in rows
            if r.validated
        )
        reasons = tuple(dict.fromkeys(x for c in (take.clips if take else ()) for x in c.reasons))
        if take is None:
            reasons = ("not_validated",)
        out.append(
            Reject(
                book=book,
                chapter_index=whole.chapter_index,
                chunk_index=index,
                chunk=f"chunk_{index:05d}",
                voice=voice,
                label=whole.text or "",
                heard=heard,
                reasons=reasons,
                attempts=len({r.attempt for r in rows if r.attempt > 0 and r.heal_step != "candidate"}),
                selected=tuple(c.path for c in take.clips) if take else (),
                tried=tried,
            )  # fmt: skip
        )
    return out


def write_rejects(rejects: Sequence[Reject], target: Path, fmt: str) -> Path:
    """``rejects`` as CSV (one row per chunk and voice, lists joined with `` | ``) or JSON lines."""
    if fmt not in REJECT_FORMATS:
        raise ValueError(f"--rejects writes {' or '.join(REJECT_FORMATS)}, not {fmt!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            for reject in rejects:
                handle.write(json.dumps(asdict(reject), ensure_ascii=False) + "\n")
            return target
        writer = csv.writer(handle)
        writer.writerow(
            ["book", "chapter", "chunk", "voice", "label", "heard", "reasons", "attempts", "selected", "paths"]
        )
        for r in rejects:
            writer.writerow([
                r.book, r.chapter_index, r.chunk, r.voice, r.label,
                " | ".join(f"{engine}: {text}" for engine, text in r.heard.items()),
                " | ".join(r.reasons), r.attempts, " | ".join(r.selected), " | ".join(a.path for a in r.tried),
            ])  # fmt: skip
    return target
