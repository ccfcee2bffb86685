"""Numbers for the calibration page: Pearson and Spearman of a MOS judge against human MOS,
seeded percentile-bootstrap confidence intervals, and the scatter plot as inline SVG.

Example::

    c = correlate([(3.1, 4.0), (2.2, 2.0), (3.9, 5.0)], seed=0)
    c.n, c.pearson, c.spearman, c.spearman_ci
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_ROUNDS = 2000
MIN_PAIRS_FOR_CI = 5  # below this a bootstrap interval says nothing
CI_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class Correlation:
    n: int
    pearson: float | None
    spearman: float | None
    pearson_ci: tuple[float, float] | None
    spearman_ci: tuple[float, float] | None


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based; ties share the mean of their positions)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    return _pearson(_ranks(x), _ranks(y))


def _bootstrap(x: np.ndarray, y: np.ndarray, statistic, rng: np.random.Generator) -> tuple[float, float] | None:
    """Percentile interval over resamples of the pairs; resamples where the statistic is
    undefined (all scores equal) are skipped. None below MIN_PAIRS_FOR_CI pairs or when most
    resamples fail."""
    if len(x) < MIN_PAIRS_FOR_CI:
        return None
    values = []
    for _ in range(BOOTSTRAP_ROUNDS):
        pick = rng.integers(0, len(x), len(x))
        value = statistic(x[pick], y[pick])
        if value is not None and not math.isnan(value):
            values.append(value)
    if len(values) < BOOTSTRAP_ROUNDS // 2:
        return None
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def correlate(pairs: Sequence[tuple[float, float]], *, seed: int = 0) -> Correlation:
    """Judge score vs human MOS over ``pairs`` = [(judge, human), ...]."""
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    rng = np.random.default_rng(seed)
    return Correlation(
        n=len(x),
        pearson=_pearson(x, y),
        spearman=_spearman(x, y),
        pearson_ci=_bootstrap(x, y, _pearson, rng),
        spearman_ci=_bootstrap(x, y, _spearman, rng),
    )


def scatter_svg(pairs: Sequence[tuple[float, float]], *, title: str, size: int = 260) -> str:
    """Judge score (x) against human MOS (y, 1-5) as a small self-contained SVG."""
    pad = 34
    inner = size - 2 * pad
    xs = [p[0] for p in pairs]
    lo, hi = (min(xs), max(xs)) if xs else (1.0, 5.0)
    lo, hi = min(lo, 1.0), max(hi, 5.0)

    def px(value: float) -> float:
        return pad + (value - lo) / (hi - lo) * inner

    def py(value: float) -> float:
        return size - pad - (value - 1) / 4 * inner

    parts = [
        f'<svg class="scatter" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}"'
        f' viewBox="0 0 {size} {size}" role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="#fafafa" stroke="#999"/>',
        f'<line x1="{px(1)}" y1="{py(1)}" x2="{px(5)}" y2="{py(5)}" stroke="#ccc" stroke-dasharray="4 3"/>',
    ]
    for mos in range(1, 6):
        parts.append(f'<text x="{pad - 6}" y="{py(mos) + 4}" font-size="10" text-anchor="end">{mos}</text>')
    for tick in np.linspace(lo, hi, 5):
        parts.append(
            f'<text x="{px(tick)}" y="{size - pad + 14}" font-size="10" text-anchor="middle">{tick:.1f}</text>'
        )
    for x, y in pairs:
        parts.append(
            f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="#2b6cb0" fill-opacity="0.7">'
            f"<title>judge {x:.2f}, human {y:.2f}</title></circle>"
        )
    parts.append(f'<text x="{size / 2}" y="{size - 4}" font-size="11" text-anchor="middle">{html.escape(title)}</text>')
    parts.append(
        f'<text x="10" y="{size / 2}" font-size="11" transform="rotate(-90 10 {size / 2})"'
        ' text-anchor="middle">human MOS</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
