"""A seeded train/validation/test split that never puts one sentence in two splits.

Clips are grouped first: by label text (``sentence``, the default), by chapter (``chapter``:
book + chapter index) or by voice (``voice``: held-out speakers). Groups that share a sentence are
merged (union-find), so every voice's reading of a sentence, and every repeat of it, lands in the
same split whatever the grouping. The merged groups are shuffled with ``seed`` and each goes to the
split furthest below its target share of clips.

Example::

    plan = SplitPlan.parse("0.9,0.05,0.05", split_by="chapter", seed=0)
    assignment = assign_splits(rows, plan)   # {file_hash: "train" | "validation" | "test"}
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.export.selection import ExportError

SPLIT_BY = ("sentence", "chapter", "voice")
SPLIT_NAMES = {1: ("train",), 2: ("train", "test"), 3: ("train", "validation", "test")}
ALL = "train"  # the one split of an export without --splits


@dataclass(frozen=True, slots=True)
class SplitPlan:
    names: tuple[str, ...]
    ratios: tuple[float, ...]
    split_by: str = "sentence"
    seed: int = 0

    @classmethod
    def parse(cls, ratios: str, *, split_by: str = "sentence", seed: int = 0) -> SplitPlan:
        """``"0.9,0.05,0.05"`` -> train/validation/test; two values -> train/test."""
        try:
            values = tuple(float(v) for v in ratios.split(",") if v.strip())
        except ValueError:
            raise ExportError(f"--splits {ratios!r}: expected numbers such as 0.9,0.05,0.05") from None
        if len(values) not in SPLIT_NAMES or any(v < 0 for v in values) or values[0] <= 0:
            raise ExportError(f"--splits {ratios!r}: give 1 to 3 shares (train[,validation],test), train above 0")
        if abs(sum(values) - 1.0) > 1e-6:
            raise ExportError(f"--splits {ratios!r}: the shares add up to {sum(values):g}, not 1")
        if split_by not in SPLIT_BY:
            raise ExportError(f"--split-by {split_by!r}: expected one of {', '.join(SPLIT_BY)}")
        return cls(SPLIT_NAMES[len(values)], values, split_by, seed)

    def describe(self) -> str:
        shares = ", ".join(f"{n} {r:g}" for n, r in zip(self.names, self.ratios, strict=True))
        return f"{shares}; grouped by {self.split_by}, seed {self.seed}; no sentence in two splits"


def sentence_key(text: str | None) -> str:
    """Label texts that are the same sentence: case and spacing do not count."""
    return re.sub(r"\s+", " ", (text or "").casefold()).strip()


def _group_key(row: dict[str, Any], split_by: str) -> str:
    if split_by == "chapter":
        return f"chapter:{row.get('book')}:{row.get('chapter_index')}"
    if split_by == "voice":
        return f"voice:{row.get('voice')}"
    return f"sentence:{sentence_key(row.get('text'))}"


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def assign_splits(rows: Sequence[dict[str, Any]], plan: SplitPlan | None) -> dict[str, str]:
    """file_hash -> split name for every row (all ``train`` without a plan)."""
    if plan is None:
        return {row["file_hash"]: ALL for row in rows}
    groups = _UnionFind()
    for row in rows:
        groups.union(_group_key(row, plan.split_by), f"sentence:{sentence_key(row.get('text'))}")
    members: dict[str, list[str]] = {}
    for row in rows:
        members.setdefault(groups.find(_group_key(row, plan.split_by)), []).append(row["file_hash"])
    order = sorted(members)  # deterministic before the seeded shuffle
    random.Random(plan.seed).shuffle(order)
    targets = [ratio * len(rows) for ratio in plan.ratios]
    filled = [0] * len(plan.names)
    assignment: dict[str, str] = {}
    for root in order:
        index = max(range(len(targets)), key=lambda i: (targets[i] - filled[i], -i))
        filled[index] += len(members[root])
        assignment.update(dict.fromkeys(members[root], plan.names[index]))
    return assignment
