"""The reject pile: the chunks whose selected take is still not kept after heal, as a short,
actionable list (``pipeline export --rejects --format csv|jsonl``): the label, where it is in the
book, the voice, what each engine heard, the reasons, the words that cost the selected take its
place (each with the phonemes Kokoro was fed and what every engine wrote there: the shopping
list for a lexicon entry or a text fix), the attempts spent and every attempt's path. A dataset
heal never ran on lists its clips that are not kept (no attempts spent)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.heal.selection import Take, choose
from pipeline.heal.state import ClipRow, by_group, load_clips
from verdicts.names import COUNTED_VERDICTS, INSERTION

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
class FailedWord:
    """A word that counts against the selected take: a label word not heard as written, or an
    extra word no rule explains (``word`` empty, ``index`` < 0)."""

    word: str
    index: int  # label word index (audio_words.word_index; < 0 for an extra word)
    verdict: str
    rule: str | None
    fed: str | None  # the phonemes Kokoro was fed for it
    heard: dict[str, str]  # engine -> what it wrote there ("" = nothing)

    def describe(self) -> str:
        """``chatte?” (fed ʃˈat; base: shot; tiny.en: mashat; ambiguous)``."""
        heard = "; ".join(f"{engine}: {text or '-'}" for engine, text in self.heard.items())
        parts = [f"fed {self.fed}" if self.fed else "", heard, self.verdict]
        return f"{self.word or '(extra)'} ({'; '.join(p for p in parts if p)})"


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
    words: tuple[FailedWord, ...]  # what cost the selected take its place, in label order
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


FAILED_WORDS_SQL = """
SELECT file_hash, word_index, COALESCE(label_word, ''), verdict, rule, fed_phonemes, primary_word, secondary_word
FROM audio_words
WHERE dataset = %s AND file_hash = ANY(%s) AND verdict = ANY(%s)
ORDER BY file_hash, COALESCE(position, word_index), word_index
"""


def _failed_words(store, dataset: str, clips: Sequence[ClipRow]) -> dict[str, list[FailedWord]]:
    """file_hash -> the counted words of each of ``clips`` (one query)."""
    if not clips:
        return {}
    engines = {c.file_hash: (c.primary_engine or "primary", c.secondary_engine or "secondary") for c in clips}
    verdicts = [*sorted(COUNTED_VERDICTS), INSERTION]
    with store.session("reading the rejected words") as conn:
        rows = conn.execute(FAILED_WORDS_SQL, (dataset, list(engines), verdicts)).fetchall()
    out: dict[str, list[FailedWord]] = {}
    for file_hash, index, word, verdict, rule, fed, primary, secondary in rows:
        names = engines[file_hash]
        heard = {name: text for name, text in zip(names, (primary, secondary), strict=True) if text is not None}
        out.setdefault(file_hash, []).append(FailedWord(word, index, verdict, rule, fed, heard))
    return out


def reject_pile(store, dataset: str) -> list[Reject]:
    """The dataset's rejects in book order (book, voice, chunk)."""
    out = []
    piled = []
    for (book, voice, index), rows in sorted(by_group(load_clips(store, dataset)).items()):
        take = _selected_take(rows)
        if take is not None and take.kept:
            continue
        piled.append((book, voice, index, rows, take))
    words = _failed_words(store, dataset, [c for *_, take in piled for c in (take.clips if take else ())])
    for book, voice, index, rows, take in piled:
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
                words=tuple(w for c in (take.clips if take else ()) for w in words.get(c.file_hash, ())),
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
            ["book", "chapter", "chunk", "voice", "label", "heard", "reasons", "words", "attempts", "selected", "paths"]
        )
        for r in rejects:
            writer.writerow([
                r.book, r.chapter_index, r.chunk, r.voice, r.label,
                " | ".join(f"{engine}: {text}" for engine, text in r.heard.items()),
                " | ".join(r.reasons), " | ".join(w.describe() for w in r.words), r.attempts,
                " | ".join(r.selected), " | ".join(a.path for a in r.tried),
            ])  # fmt: skip
    return target
