"""What the store holds about a dataset's clips, grouped by (book, voice, chunk): the attempts heal
reads to decide, select and report. One query; rows of clips that are not book chunks (foreign
data without ``chunk_index``) are left out. ``keep`` is ``effective_keep``: a person's approve or
reject on the review page (migration 009) overrules the machine, so heal re-makes a clip a
reviewer rejected and leaves one a reviewer approved."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.heal.pronunciations import FAILING_VERDICTS

# Word verdicts that cost a clip its place because the word was not heard as written
# (``unverified``: the only engine that ran heard another word).
UNHEARD_VERDICTS = (*FAILING_VERDICTS, "unverified")

GroupKey = tuple[str, str, int]  # (book, voice, chunk_index)

CLIP_SQL = """
SELECT file_hash, path, book, voice, voice_recipe, chapter_index, chunk_index, chunk_part,
       COALESCE(attempt, 0) AS attempt, heal_step, text, effective_keep AS keep, tier,
       (n_words IS NOT NULL OR validate_error IS NOT NULL) AS validated,
       adjusted_wer, primary_conf_calibrated, secondary_conf_calibrated, composite_mos,
       speaker_similarity, duration_s, selected, speed, tts_engine,
       COALESCE(reject_reasons, '{}') AS reasons,
       primary_engine, primary_text, secondary_engine, secondary_text, validate_error
FROM audio_quality
WHERE dataset = %s AND book IS NOT NULL AND chunk_index IS NOT NULL AND voice IS NOT NULL
ORDER BY book, voice, chunk_index, COALESCE(attempt, 0), chunk_part NULLS FIRST, file_hash
"""


@dataclass(frozen=True, slots=True)
class ClipRow:
    file_hash: str
    path: str
    book: str
    voice: str
    voice_recipe: str | None
    chapter_index: int | None
    chunk_index: int
    chunk_part: str | None
    attempt: int
    heal_step: str | None
    text: str | None
    keep: bool | None
    tier: str | None
    validated: bool
    adjusted_wer: float | None
    primary_conf_calibrated: float | None
    secondary_conf_calibrated: float | None
    composite_mos: float | None
    speaker_similarity: float | None
    duration_s: float | None
    selected: bool | None
    speed: float | None
    tts_engine: str | None
    reasons: list[str]
    primary_engine: str | None
    primary_text: str | None
    secondary_engine: str | None
    secondary_text: str | None
    validate_error: str | None

    @property
    def group(self) -> GroupKey:
        return (self.book, self.voice, self.chunk_index)

    @property
    def confidence(self) -> float | None:
        """The calibrated confidence of the clip: the lower of the engines that ran."""
        values = [v for v in (self.primary_conf_calibrated, self.secondary_conf_calibrated) if v is not None]
        return min(values) if values else None

    @property
    def wer(self) -> float:
        return self.adjusted_wer if self.adjusted_wer is not None and not math.isnan(self.adjusted_wer) else math.inf


def load_clips(store, dataset: str) -> list[ClipRow]:
    with store.session("reading the dataset's clips") as conn:
        cursor = conn.execute(CLIP_SQL, (dataset,))
        names = [d.name for d in cursor.description]
        return [ClipRow(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


FAILING_WORDS_SQL = """
SELECT file_hash, array_agg(word_index ORDER BY word_index)
FROM audio_words
WHERE dataset = %s AND verdict = ANY(%s) AND word_index >= 0
GROUP BY file_hash
"""


def failing_words(store, dataset: str) -> dict[str, tuple[int, ...]]:
    """Per clip of ``dataset``: its label words that were not heard as written
    (``UNHEARD_VERDICTS``), by position in the label."""
    with store.session("reading the failing words") as conn:
        rows = conn.execute(FAILING_WORDS_SQL, (dataset, list(UNHEARD_VERDICTS))).fetchall()
    return {file_hash: tuple(indices) for file_hash, indices in rows}


def by_group(rows: Iterable[ClipRow]) -> dict[GroupKey, list[ClipRow]]:
    groups: dict[GroupKey, list[ClipRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return groups
