"""Which take of a (chunk, voice) the dataset ships: exactly one is ``selected``.

A take is one whole-chunk clip, or the two halves (``a`` + ``b``) of a split chunk: the best
clip of each half, by the order below, whichever attempts made them. Takes are
ordered by (the documented selection order):

1. kept before not kept (a split take is kept when both halves are);
2. adjusted WER, lower first (a split take: its worse half);
3. calibrated confidence, higher first (per clip the lower of the engines; split: the lower half);
4. composite MOS, higher first (not judged: last);
5. speaker similarity, higher first (not measured: last);
6. a whole clip before a split pair, then the earlier attempt (generate's clip wins ties).

The best take is selected even when nothing is kept (so an export ships one clip per chunk and
voice and ``--where keep`` drops the rejects); the chunk then stays in the reject pile. The write
clears the group's flags before setting the chosen ones, in one transaction, under the unique
partial index of migration 007 (at most one selected clip per chunk part and voice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from pipeline.heal.state import ClipRow, GroupKey


@dataclass(frozen=True, slots=True)
class Take:
    clips: tuple[ClipRow, ...]  # one whole clip, or halves a then b

    @property
    def attempt(self) -> int:
        return self.clips[0].attempt

    @property
    def split(self) -> bool:
        return len(self.clips) > 1

    @property
    def kept(self) -> bool:
        return all(c.keep for c in self.clips)

    @property
    def steps(self) -> str:
        return self.clips[0].heal_step or "generate"


def _worst(values: Sequence[float | None]) -> float:
    """The lowest value; -inf when any is missing (sorts last among "higher first")."""
    return -math.inf if any(v is None for v in values) else min(values)  # type: ignore[type-var]


def rank_key(take: Take) -> tuple:
    clips = take.clips
    return (
        not take.kept,
        max(c.wer for c in clips),
        -_worst([c.confidence for c in clips]),
        -_worst([c.composite_mos for c in clips]),
        -_worst([c.speaker_similarity for c in clips]),
        take.split,
        take.attempt,
    )


def takes(rows: Sequence[ClipRow], eligible: Set[str] | None = None) -> list[Take]:
    """The validated takes of one group: each whole clip, and the best split pair (none until
    both halves have a validated clip). ``eligible``: file hashes that may be chosen (the clips
    the manifest holds now: a row whose wav was regenerated since is not); None = all."""
    rows = [r for r in rows if eligible is None or r.file_hash in eligible]
    out = [Take((r,)) for r in rows if r.chunk_part is None and r.validated]
    halves = {part: [r for r in rows if r.chunk_part == part and r.validated] for part in ("a", "b")}
    if halves["a"] and halves["b"]:  # the best of each half (a chunk is always split at the same place)
        out.append(Take(tuple(min(halves[part], key=lambda r: rank_key(Take((r,)))) for part in ("a", "b"))))
    return out


def choose(rows: Sequence[ClipRow], eligible: Set[str] | None = None) -> Take | None:
    candidates = takes(rows, eligible)
    return min(candidates, key=rank_key) if candidates else None


def write_selection(
    store, dataset: str, groups: Mapping[GroupKey, Sequence[ClipRow]], eligible: Set[str] | None = None
) -> dict[GroupKey, Take]:
    """Select the best take of each group (groups with no validated take are left alone); every
    other clip of those groups, ineligible ones included, is marked not selected."""
    chosen = {key: take for key, rows in groups.items() if (take := choose(rows, eligible)) is not None}
    everything = [r.file_hash for key in chosen for r in groups[key]]
    winners = [c.file_hash for take in chosen.values() for c in take.clips]
    if not chosen:
        return chosen
    with store.session("writing the selection") as conn, conn.transaction():
        conn.execute(
            "UPDATE audio_quality SET selected = false WHERE dataset = %s AND file_hash = ANY(%s)"
            " AND selected IS DISTINCT FROM false",
            (dataset, everything),
        )
        conn.execute(
            "UPDATE audio_quality SET selected = true WHERE dataset = %s AND file_hash = ANY(%s)",
            (dataset, winners),
        )
    return chosen
