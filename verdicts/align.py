"""Word-level Levenshtein alignment of reference tokens against hypothesis tokens, and raw WER.

Example::

    a = align(["the", "tale", "ends"], ["the", "tail", "ends", "here"])
    [op.kind for op in a.ops]   # ['equal', 'substitute', 'equal', 'insert']
    a.wer                       # 2 / 3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

OpKind = Literal["equal", "substitute", "delete", "insert"]


# Not frozen: built for every word of every clip (a frozen dataclass's __init__ costs ~4x as much);
# treated as immutable all the same.
@dataclass(slots=True)
class AlignOp:
    """One step of an alignment. ``ref_index`` is None for an insertion, ``hyp_index`` for a
    deletion; ``ref_pos`` is always the reference position (for an insertion: the reference
    token it comes before)."""

    kind: OpKind
    ref_index: int | None
    hyp_index: int | None
    ref_pos: int


@dataclass(frozen=True, slots=True)
class Alignment:
    ops: tuple[AlignOp, ...]
    n_ref: int
    n_hyp: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """(S + D + I) / N. An empty reference gives 0.0 against an empty hypothesis, else 1.0."""
        if self.n_ref == 0:
            return 0.0 if self.n_hyp == 0 else 1.0
        return self.errors / self.n_ref


def align(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    """Minimum-edit alignment (unit costs). Common prefix and suffix are matched first, which
    keeps long, mostly correct clips cheap."""
    n, m = len(ref), len(hyp)
    head = 0
    while head < n and head < m and ref[head] == hyp[head]:
        head += 1
    tail = 0
    while tail < n - head and tail < m - head and ref[n - 1 - tail] == hyp[m - 1 - tail]:
        tail += 1
    mid = _dp(ref[head : n - tail], hyp[head : m - tail])
    ops: list[AlignOp] = [AlignOp("equal", i, i, i) for i in range(head)]
    counts = {"substitute": 0, "delete": 0, "insert": 0, "equal": 0}
    pos = head  # the reference position the next op sits at (an insertion: the token it comes before)
    for kind, i, j in mid:
        counts[kind] += 1
        if i is None:
            ops.append(AlignOp(kind, None, j + head, pos))
        else:
            pos = i + head
            ops.append(AlignOp(kind, pos, None if j is None else j + head, pos))
            pos += 1
    ops += [AlignOp("equal", n - tail + k, m - tail + k, n - tail + k) for k in range(tail)]
    return Alignment(tuple(ops), n, m, counts["substitute"], counts["delete"], counts["insert"])


def _dp(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[OpKind, int | None, int | None]]:
    n, m = len(ref), len(hyp)
    if n == 0:
        return [("insert", None, j) for j in range(m)]
    if m == 0:
        return [("delete", i, None) for i in range(n)]
    # cost[i][j]: edits to turn ref[:i] into hyp[:j]
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i
    for j in range(1, m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, prev = cost[i], cost[i - 1]
        r = ref[i - 1]
        for j in range(1, m + 1):
            diag = prev[j - 1] + (0 if r == hyp[j - 1] else 1)
            up = prev[j] + 1
            left = row[j - 1] + 1
            row[j] = min(diag, up, left)
    out: list[tuple[OpKind, int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = ref[i - 1] == hyp[j - 1]
            if cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
                out.append(("equal" if same else "substitute", i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            out.append(("delete", i - 1, None))
            i -= 1
        else:
            out.append(("insert", None, j - 1))
            j -= 1
    out.reverse()
    return out


def word_error_rate(ref: Sequence[str], hyp: Sequence[str]) -> float:
    """Raw WER of two token sequences."""
    return align(ref, hyp).wer
