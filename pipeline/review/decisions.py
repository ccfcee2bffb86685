"""The review pages' writes: a person's decision (approve | reject, with a note) and MOS rating of
a clip. Each is one upsert keyed by (clip, person): a person who changes their mind overwrites
their own row; two people never overwrite each other, whatever the order their requests land in.
The trigger of migration 009 keeps ``audio_quality.human_decision`` (the latest decision) and so
``effective_keep`` up to date in the same transaction.

Example::

    record_decision(store, Decision("alice", "3f2a...", "ana", "reject", "mumbles 'rabbit'"))
    record_rating(store, Rating("alice", "3f2a...", "ana", 4))
"""

from __future__ import annotations

from dataclasses import dataclass

DECISIONS = ("approve", "reject")
MAX_NOTE = 2000
MAX_PERSON = 80


class DecisionError(ValueError):
    """A decision or rating that cannot be stored (bad value, unknown clip); the message says why."""


@dataclass(frozen=True, slots=True)
class Decision:
    dataset: str
    file_hash: str
    reviewer: str
    decision: str  # approve | reject
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Rating:
    dataset: str
    file_hash: str
    rater: str
    mos: int  # 1..5


def _person(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_PERSON:
        raise DecisionError(f"a reviewer name of 1 to {MAX_PERSON} characters is required")
    return name


def _require_clip(conn, dataset: str, file_hash: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM audio_quality WHERE dataset = %s AND file_hash = %s", (dataset, file_hash)
    ).fetchone()
    if found is None:
        raise DecisionError(f"no clip {file_hash[:16]} in dataset {dataset!r}")


def record_decision(store, d: Decision) -> bool | None:
    """Upsert ``d``; returns the clip's ``effective_keep`` afterwards."""
    if d.decision not in DECISIONS:
        raise DecisionError(f"decision must be one of {', '.join(DECISIONS)}, not {d.decision!r}")
    note = (d.note or "").strip()[:MAX_NOTE] or None
    with store.session("storing a review") as conn:
        _require_clip(conn, d.dataset, d.file_hash)
        conn.execute(
            "INSERT INTO reviews (file_hash, dataset, reviewer, decision, note) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (file_hash, dataset, reviewer) DO UPDATE"
            " SET decision = EXCLUDED.decision, note = EXCLUDED.note, decided_at = clock_timestamp()",
            (d.file_hash, d.dataset, _person(d.reviewer), d.decision, note),
        )
        row = conn.execute(
            "SELECT effective_keep FROM audio_quality WHERE dataset = %s AND file_hash = %s", (d.dataset, d.file_hash)
        ).fetchone()
    return row[0]


def withdraw_decision(store, dataset: str, file_hash: str, reviewer: str) -> None:
    """Delete the person's decision (the machine's keep, or another person's decision, applies again)."""
    with store.session("withdrawing a review") as conn:
        conn.execute(
            "DELETE FROM reviews WHERE dataset = %s AND file_hash = %s AND reviewer = %s",
            (dataset, file_hash, _person(reviewer)),
        )


def record_rating(store, r: Rating) -> None:
    if not isinstance(r.mos, int) or not 1 <= r.mos <= 5:
        raise DecisionError(f"MOS must be a whole number from 1 to 5, not {r.mos!r}")
    with store.session("storing a rating") as conn:
        _require_clip(conn, r.dataset, r.file_hash)
        conn.execute(
            "INSERT INTO human_ratings (file_hash, dataset, rater, mos) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (file_hash, dataset, rater) DO UPDATE SET mos = EXCLUDED.mos, rated_at = clock_timestamp()",
            (r.file_hash, r.dataset, _person(r.rater), r.mos),
        )
