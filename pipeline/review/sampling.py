"""The rating sample: N clips of a dataset, seeded and stratified across tiers and MOS judges.

A clip's stratum is (tier, the MOS judges that scored it). Within each stratum clips are ordered
by ``md5(seed || file_hash)``; the sample takes the first of every stratum, then the second of
every stratum, and so on (equal allocation), so rare strata (the few rejected clips, the clips a
sampled judge scored) are in the sample however small N is. The same seed gives the same
sample, on any machine, as long as the rows are the same.

Example::

    hashes = rating_sample(store, "alice", n=40, seed=0)
"""

from __future__ import annotations

SAMPLE_SQL = """
WITH ranked AS (
    SELECT file_hash,
           tier,
           array_to_string(mos_judges, ',') AS judges,
           md5(%(seed)s::text || file_hash) AS draw,
           row_number() OVER (
               PARTITION BY COALESCE(tier, ''), COALESCE(array_to_string(mos_judges, ','), '')
               ORDER BY md5(%(seed)s::text || file_hash)
           ) AS turn
    FROM audio_quality
    WHERE dataset = %(dataset)s AND validate_error IS NULL AND path IS NOT NULL
)
SELECT file_hash, tier, judges FROM ranked ORDER BY turn, draw LIMIT %(n)s
"""


def rating_sample(store, dataset: str, *, n: int, seed: int) -> list[dict]:
    """[{file_hash, tier, judges}] in rating order (see the module docstring)."""
    with store.session("drawing the rating sample") as conn:
        rows = conn.execute(SAMPLE_SQL, {"dataset": dataset, "n": n, "seed": seed}).fetchall()
    return [{"file_hash": h, "tier": tier, "judges": judges} for h, tier, judges in rows]


def _by_person(store, table: str, column: str, dataset: str, person_column: str, person: str, hashes: list[str]):
    with store.session(f"reading {table} of {person}") as conn:
        rows = conn.execute(
            f"SELECT file_hash, {column} FROM {table} WHERE dataset = %s AND {person_column} = %s"
            " AND file_hash = ANY(%s)",
            (dataset, person, hashes),
        ).fetchall()
    return dict(rows)


def rated_by(store, dataset: str, rater: str, hashes: list[str]) -> dict[str, int]:
    """file_hash -> the rater's MOS, for the clips of ``hashes`` this rater has rated."""
    return _by_person(store, "human_ratings", "mos", dataset, "rater", rater, hashes)


def decided_by(store, dataset: str, reviewer: str, hashes: list[str]) -> dict[str, str]:
    """file_hash -> the reviewer's decision, for the clips of ``hashes`` this reviewer decided."""
    return _by_person(store, "reviews", "decision", dataset, "reviewer", reviewer, hashes)
