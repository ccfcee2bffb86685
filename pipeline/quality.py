"""The quality step of validate: signal metrics for every clip, MOS judges for the clips that
``--mos-mode`` selects, composite MOS, and the MOS part of ``keep``.

Judges run one after another in batch mode (one model in memory at a time); per-judge time is
recorded per clip in ``mos_ms``. The selection depends only on the mode, the seed, the set of
clip keys and each clip's own verdicts, so batch and stream modes score the same clips.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from judges.base import AudioItem, MOSJudge, Scores
from judges.mos import MOSCandidate, composite, select_for_mos
from pipeline.signal import signal_metrics_for_file

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MOSPlan:
    mode: str = "sample"
    sample_rate: float = 0.1
    seed: int = 0
    judges: tuple[MOSJudge, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # judge -> why it cannot run here

    def sampled(self, keys: Sequence[str]) -> set[str]:
        """The ``sample`` mode's choice over all keys (other modes decide per clip)."""
        if self.mode != "sample":
            return set()
        return select_for_mos([MOSCandidate(k, 0, 0, None) for k in keys], "sample", self.sample_rate, self.seed)

    def wants(self, candidate: MOSCandidate, sampled: set[str]) -> bool:
        if not self.judges or self.mode == "none":
            return False
        if self.mode == "sample":
            return candidate.key in sampled
        return bool(select_for_mos([candidate], self.mode, self.sample_rate, self.seed))


def signal_row(audio_path: str) -> tuple[dict | None, str | None]:
    try:
        return signal_metrics_for_file(audio_path), None
    except ValueError as exc:
        return None, str(exc)


def mos_row(scores: Sequence[Scores], seed: int) -> dict:
    """The ``mos`` column group for one clip from its judges' scores."""
    values: dict[str, float] = {}
    for score in scores:
        if score.error is None:
            values.update(score.values)
    mean, used = composite(values)
    return {
        **values,
        "composite_mos": mean,
        "mos_judges": used,
        "mos_seed": seed,
        "mos_ms": {s.judge: round(s.ms, 1) for s in scores},
    }


def score_clips(judges: Sequence[MOSJudge], items: Sequence[AudioItem], *, load: bool) -> dict[str, list[Scores]]:
    """Every judge over ``items``; with ``load`` each judge is set up and torn down in turn."""
    scores: dict[str, list[Scores]] = {item.key: [] for item in items}
    if not items:
        return scores
    for judge in judges:
        if load:
            judge.setup()
        try:
            batch = max(1, judge.info.batch_size)
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                for item, result in zip(chunk, judge.judge_batch(chunk), strict=True):
                    scores[item.key].append(result)
        finally:
            if load:
                judge.teardown()
    return scores
