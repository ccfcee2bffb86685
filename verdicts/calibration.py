"""Calibrated word confidence: an engine's raw word confidence mapped to the probability that the
word is right, as a monotone piecewise-linear table (fitted by isotonic regression; the fitting
script is ``benchmarks/fit_calibration.py``, the tables live in ``data/calibration/``).

Raw confidences are not comparable across engines (Whisper's word probabilities sit far below
Parakeet's confidences on the same audio); calibrated ones are, so tiers and the cascade use them.

Example::

    cal = Calibration("whisper", "base", (0.2, 0.6, 0.9), (0.5, 0.9, 0.99))
    cal(0.75)     # 0.945 (linear between the knots)
    cal(0.05)     # 0.5   (clamped to the ends)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Calibration:
    engine: str
    model: str
    xs: tuple[float, ...]  # raw confidences, increasing
    ys: tuple[float, ...]  # calibrated probabilities at xs, non-decreasing
    method: str = "isotonic"
    fitted_on: Mapping[str, Any] = field(default_factory=dict)  # data source, word counts

    def __post_init__(self) -> None:
        if not self.xs or len(self.xs) != len(self.ys):
            raise ValueError("a calibration needs as many probabilities as knots, at least one")
        if any(b < a for a, b in zip(self.xs, self.xs[1:], strict=False)):
            raise ValueError("calibration knots must increase")
        if any(b < a for a, b in zip(self.ys, self.ys[1:], strict=False)):
            raise ValueError("calibrated probabilities must not decrease")
        if not all(0.0 <= y <= 1.0 for y in self.ys):
            raise ValueError("calibrated probabilities must lie in [0, 1]")

    def __call__(self, raw: float) -> float:
        xs, ys = self.xs, self.ys
        if raw <= xs[0]:
            return ys[0]
        if raw >= xs[-1]:
            return ys[-1]
        k = bisect_right(xs, raw)
        x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (raw - x0) / (x1 - x0)

    def mean(self, confidences: Sequence[float]) -> float | None:
        return sum(self(c) for c in confidences) / len(confidences) if confidences else None

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "model": self.model,
            "method": self.method,
            "xs": list(self.xs),
            "ys": list(self.ys),
            "fitted_on": dict(self.fitted_on),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            engine=str(data["engine"]),
            model=str(data["model"]),
            xs=tuple(float(x) for x in data["xs"]),
            ys=tuple(float(y) for y in data["ys"]),
            method=str(data.get("method", "isotonic")),
            fitted_on=dict(data.get("fitted_on", {})),
        )
