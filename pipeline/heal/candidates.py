"""Best of several sources (``pipeline heal DATASET --candidates OTHER``): validated clips of another
dataset whose label text is identical to a chunk's label join that chunk's selection as attempts
(``heal_step = 'candidate'``), so a dataset can be assembled from the best take of each sentence.

A candidate becomes a clip of this dataset like any attempt: its wav is copied next to the
chunk's (``chunk_00025.cand3.wav``; same bytes, same ``file_hash``), it gets a manifest line and an
``audio_quality`` row whose identity is the chunk's (book, chapter, chunk, voice) and whose
validation columns and word rows are copied from the source dataset (its verdicts were made with
the source's settings; ``metadata.candidate_from`` names it). Candidates are not re-syntheses:
they do not count against ``--max-attempts``. Importing twice adds nothing (a clip already in
the dataset is skipped).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from psycopg import sql

from pipeline.heal.ladder import CANDIDATE
from pipeline.heal.state import ClipRow, GroupKey
from pipeline.manifest import Manifest
from pipeline.records import AudioRecord
from pipeline.store.columns import GROUPS, WORD_COLUMNS

log = logging.getLogger(__name__)

# What the source's validation wrote: copied onto the candidate's row.
VALIDATION_COLUMNS = tuple(
    column for group in ("primary", "secondary", "verdicts", "mos", "checks", "signal") for column in GROUPS[group]
)
SOURCE_SQL = """
SELECT file_hash, path, text, voice_recipe, duration_s, sample_rate
FROM audio_quality
WHERE dataset = %s AND text = ANY(%s) AND (n_words IS NOT NULL OR validate_error IS NOT NULL)
ORDER BY file_hash
"""


def _source_wav(path: str, other_dir: Path) -> Path | None:
    candidate = Path(path) if Path(path).is_absolute() else other_dir / path
    return candidate if candidate.is_file() else None


def _record(base: AudioRecord, source: AudioRecord | None, row: tuple, attempt: int, wav: str) -> AudioRecord:
    file_hash, _, _, voice_recipe, duration_s, sample_rate = row
    common = {
        "id": hashlib.sha256(f"{base.id}\x1f{file_hash}".encode()).hexdigest()[:20],
        "file_hash": file_hash, "wav_path": wav, "txt_path": wav.removesuffix(".wav") + ".txt",
        "attempt": attempt, "chunk_part": "", "heal_step": CANDIDATE,
    }  # fmt: skip
    if source is not None:  # one of our clips: its own generation facts
        facts = {
            name: getattr(source, name)
            for name in ("phonemes", "voice_recipe", "speed", "seed", "duration_s", "sample_rate", "n_samples",
                         "tts_engine", "tts_model", "tts_version", "device", "gen_ms", "gen_rtf", "g2p_flags",
                         "word_times", "word_phonemes")
        }  # fmt: skip
        return replace(base, **facts, **common)
    return replace(
        base, **common, phonemes="", voice_recipe=voice_recipe or "", duration_s=duration_s or 0.0,
        sample_rate=sample_rate or 0, n_samples=0, tts_engine="", tts_model="", tts_version="", device="",
        gen_ms=0.0, gen_rtf=0.0, g2p_flags=(), word_times=None, word_phonemes=(),
    )  # fmt: skip


def import_candidates(
    store,
    dataset: str,
    dataset_dir: Path,
    other: str,
    other_dir: Path,
    groups: Mapping[GroupKey, Sequence[ClipRow]],
    records: Mapping[str, AudioRecord],
) -> list[AudioRecord]:
    """Copy ``other``'s clips with a chunk's exact label into that chunk's group; returns the new
    clips (already in the manifest and the store)."""
    bases: dict[str, list[tuple[AudioRecord, Sequence[ClipRow]]]] = {}
    for rows in groups.values():
        base = next(
            (records[r.file_hash] for r in rows if r.attempt == 0 and not r.chunk_part and r.file_hash in records), None
        )
        if base is not None:
            bases.setdefault(base.text, []).append((base, rows))
    if not bases:
        return []
    with store.session("reading candidate clips") as conn:
        found = conn.execute(SOURCE_SQL, (other, list(bases))).fetchall()
    manifest = Manifest.for_dataset(other_dir)
    ours = {r.file_hash: r for r in manifest.records()} if manifest.path.is_file() else {}
    new: list[AudioRecord] = []
    next_attempt: dict[int, int] = {}
    # A row is keyed by (file_hash, dataset): a clip already here (the same bytes in this or
    # another chunk: a sentence the book repeats) is not imported again.
    present = {r.file_hash for rows in groups.values() for r in rows}
    for row in found:
        wav = _source_wav(row[1], other_dir)
        if wav is None:
            log.warning("candidate %s of dataset %s: no wav at %s; skipped", row[0][:12], other, row[1])
            continue
        for base, rows in bases[row[2]]:
            if row[0] in present:
                continue  # imported before, or the same clip
            present.add(row[0])
            key = id(rows)
            attempt = next_attempt.get(key, max(r.attempt for r in rows)) + 1
            next_attempt[key] = attempt
            target = base.wav_path.rsplit("/", 1)[0] + f"/chunk_{base.chunk_index:05d}.cand{attempt}.wav"
            (dataset_dir / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(wav, dataset_dir / target)
            (dataset_dir / target).with_suffix(".txt").write_text(base.text + "\n", encoding="utf-8")
            new.append(_record(base, ours.get(row[0]), row, attempt, target))
    if new:
        manifest_here = Manifest.for_dataset(dataset_dir)
        manifest_here.append(new)
        store.write_generation(new)
        _copy_validation(store, dataset, other, [r.file_hash for r in new])
    return new


def _copy_validation(store, dataset: str, other: str, hashes: list[str]) -> None:
    """The source rows' validation columns and word rows onto the candidates' rows."""
    columns = sql.SQL(", ").join(map(sql.Identifier, VALIDATION_COLUMNS))
    sources = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in VALIDATION_COLUMNS)
    words = [c for c in WORD_COLUMNS if c != "dataset"]
    with store.session("copying candidate validations") as conn, conn.transaction():
        conn.execute(
            sql.SQL(
                "UPDATE audio_quality t SET ({cols}) = ({src}),"
                " metadata = t.metadata || jsonb_build_object('candidate_from', %s::text), updated_at = now()"
                " FROM audio_quality s WHERE s.dataset = %s AND s.file_hash = t.file_hash"
                " AND t.dataset = %s AND t.file_hash = ANY(%s)"
            ).format(cols=columns, src=sources),
            (other, other, dataset, hashes),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO audio_words (dataset, {cols}) SELECT %s, {cols} FROM audio_words"
                " WHERE dataset = %s AND file_hash = ANY(%s) ON CONFLICT DO NOTHING"
            ).format(cols=sql.SQL(", ").join(map(sql.Identifier, words))),
            (dataset, other, hashes),
        )
