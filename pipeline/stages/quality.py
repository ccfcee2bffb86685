"""The quality stage of validate: signal metrics for every clip, MOS judges for the clips that
``--mos-mode`` selects, composite MOS, the MOS part of ``keep``, and the clip checks (DSP sanity,
timing cross-check, G2P audit, speaker similarity: ``ClipResult.reasons``).

Judges run one after another in batch mode (one model in memory at a time); per-judge time is
recorded per clip in ``mos_ms``. The selection depends only on the mode, the seed, the set of
clip keys and each clip's own verdicts, so batch and stream modes score the same clips.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import soundfile as sf

from judges.base import AudioItem, MOSJudge, Scores
from judges.mos import MOSCandidate, composite, select_for_mos
from pipeline.choices import MosMode
from pipeline.clip_checks import ClipCheckThresholds, dsp_reasons, speaker_reasons, timing_reasons
from pipeline.reasons import CLIP_REASONS, g2p_reasons
from pipeline.records import ClipResult
from pipeline.signal import signal_metrics_for_file
from pipeline.stages.base import ItemFailure, Resources, Stage
from verdicts import Thresholds

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MOSPlan:
    mode: MosMode | str = MosMode.sample
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


def _duration(path: str) -> float | None:
    try:
        return float(sf.info(path).duration)
    except Exception:
        return None


def with_checks(result: ClipResult, speaker_similarity: float | None, checks: ClipCheckThresholds) -> ClipResult:
    """``result`` plus the clip checks: DSP sanity, the timing cross-check, the G2P audit's
    unfixed findings and speaker similarity, as reason ids and measurements."""
    try:
        audio, rate = sf.read(result.clip.audio_path, dtype="float32", always_2d=False)
    except Exception:  # unreadable audio is already the result's error
        return result
    reasons, measured = dsp_reasons(audio, rate, checks)
    verdict_words = result.verdicts.words if result.verdicts is not None else ()
    timing, timing_measured = timing_reasons(result.clip.word_times, verdict_words, measured["speech_end_s"], checks)
    found = {*reasons, *timing, *g2p_reasons(result.clip.g2p_flags), *speaker_reasons(speaker_similarity, checks)}
    return replace(
        result,
        speaker_similarity=speaker_similarity,
        checks={**measured, **timing_measured},
        reasons=tuple(r for r in CLIP_REASONS if r in found),
    )


def with_quality(result: ClipResult, scores: list[Scores] | None, mos: MOSPlan, thresholds: Thresholds) -> ClipResult:
    """``result`` plus its signal metrics, duration and MOS columns (``scores``: its judges' scores)."""
    signal, problem = signal_row(result.clip.audio_path)
    # The signal metrics already read the file; only a file they reject needs another look.
    duration = signal["duration_s"] if signal else _duration(result.clip.audio_path)
    if problem and not result.error:
        result = replace(result, error=problem)
    mos_cols = mos_row(scores, mos.seed) if scores else None
    rejected = bool(
        mos_cols
        and thresholds.keep_min_mos is not None
        and mos_cols["composite_mos"] is not None
        and mos_cols["composite_mos"] < thresholds.keep_min_mos
    )
    return replace(result, duration_s=duration, signal=signal, mos=mos_cols, mos_rejected=rejected)


def wants_mos(result: ClipResult, mos: MOSPlan, sampled: set[str] | frozenset[str]) -> bool:
    if not result.clip.labeled:  # unlabeled audio: MOS is all there is to learn about it
        return result.error is None and bool(mos.judges) and mos.mode != MosMode.none
    if result.verdicts is None and mos.mode in (MosMode.flagged_only, MosMode.passed_only):
        return False
    counts = result.verdicts.summary.counts if result.verdicts is not None else {}
    keep = result.verdicts.summary.keep if result.verdicts is not None else None
    candidate = MOSCandidate(result.clip.file_hash, counts.get("tts_failure", 0), counts.get("ambiguous", 0), keep)
    return result.error is None and mos.wants(candidate, sampled)


def mos_item(result: ClipResult) -> AudioItem:
    return AudioItem(result.clip.file_hash, result.clip.audio_path, result.clip.text)


class ScoreStage(Stage[AudioItem, Scores]):
    """One MOS judge as a stage. Batch mode maps the judges one after another over the clips the
    plan chose (one model in memory at a time); stream mode keeps every judge's stage open."""

    def __init__(self, judge: MOSJudge) -> None:
        self.judge = judge
        self.name = f"mos:{judge.info.name}"
        self.resources = Resources(cpus=1, batch_size=max(1, judge.info.batch_size))

    def setup(self) -> None:
        self.judge.setup()

    def teardown(self) -> None:
        self.judge.teardown()

    def process_batch(self, items: Sequence[AudioItem]) -> list[Scores | ItemFailure]:
        return list(self.judge.judge_batch(items))


@dataclass(frozen=True, slots=True)
class QualityItem:
    """A clip with its verdicts and the scores its MOS judges gave it (empty: not chosen)."""

    result: ClipResult
    scores: tuple[Scores, ...] = ()
    speaker_similarity: float | None = None  # None: not our clip, or speaker check off


class QualityStage(Stage[QualityItem, ClipResult]):
    """The last step of validate: signal metrics for every clip, the MOS columns and the MOS part
    of ``keep`` from the judges' scores. Loads no model (the judges ran as ``ScoreStage``s)."""

    name = "quality"

    def __init__(
        self,
        mos: MOSPlan,
        thresholds: Thresholds,
        resources: Resources | None = None,
        checks: ClipCheckThresholds | None = None,
    ) -> None:
        self.mos = mos
        self.thresholds = thresholds
        self.resources = resources or Resources(cpus=1, batch_size=8)
        self.checks = checks or ClipCheckThresholds()

    def process_batch(self, items: Sequence[QualityItem]) -> list[ClipResult | ItemFailure]:
        return [
            with_checks(
                with_quality(i.result, list(i.scores) or None, self.mos, self.thresholds),
                i.speaker_similarity,
                self.checks,
            )
            for i in items
        ]
