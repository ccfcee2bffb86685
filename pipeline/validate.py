"""The validate stages: transcribe with one or two engines, give every label word a verdict, and
turn each clip into its ``audio_quality`` columns and ``audio_words`` rows.

Modes (same rows either way, checked by the tests):

* ``batch``: stage-sequential. Every clip through the primary engine, then (after it is freed)
  the escalated or all clips through the secondary; one model in memory at a time.
* ``stream``: clip-sequential. Both engines loaded; each clip goes through every stage before
  the next one starts (lowest latency per clip).

Engine modes: ``primary`` | ``secondary`` (only that engine) | ``both`` | ``cascade`` (primary on
all, secondary only where the primary's WER or confidence crosses the escalation thresholds).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import soundfile as sf

from judges.base import ASRJudge, AudioItem, Scores, Transcript
from judges.mos import MOSCandidate
from pipeline.lexicon import g2p_lexicon
from pipeline.quality import MOSPlan, mos_row, score_clips, signal_row
from pipeline.sources import ClipSource
from pipeline.stage import ItemFailure, Resources, Stage
from pipeline.store.columns import GROUPS
from verdicts import FileVerdicts, Hypothesis, Thresholds, judge_words, should_escalate

log = logging.getLogger(__name__)

EngineMode = Literal["primary", "secondary", "both", "cascade"]
RunMode = Literal["batch", "stream"]


class TranscribeStage(Stage[ClipSource, Transcript]):
    """One ASR engine as a pipeline stage."""

    def __init__(self, judge: ASRJudge, gpus: float = 0.0) -> None:
        self.judge = judge
        self.name = f"transcribe:{judge.info.name}"
        self.resources = Resources(cpus=1, gpus=gpus, batch_size=max(1, judge.info.batch_size))

    def setup(self) -> None:
        self.judge.setup()

    def teardown(self) -> None:
        self.judge.teardown()

    def process_batch(self, items: Sequence[ClipSource]) -> list[Transcript | ItemFailure]:
        return list(self.judge.judge_batch([AudioItem(c.file_hash, c.audio_path, c.text) for c in items]))


def hypothesis(transcript: Transcript | None) -> Hypothesis | None:
    if transcript is None or transcript.error is not None:
        return None
    return Hypothesis(
        engine=transcript.engine,
        text=transcript.text,
        words=transcript.words,
    )


@dataclass(frozen=True, slots=True)
class ClipResult:
    clip: ClipSource
    primary: Transcript | None
    secondary: Transcript | None
    escalated: bool
    escalation_reason: str | None
    verdicts: FileVerdicts | None
    error: str | None
    duration_s: float | None = None  # from the signal metrics (set by the quality step)
    signal: dict | None = None  # the 11 signal metrics (every clip)
    mos: dict | None = None  # mos column group (clips the --mos-mode selected)
    mos_rejected: bool = False  # composite MOS below the keep threshold

    def rows(self) -> dict[str, dict[str, Any]]:
        """Column groups for ``Store.upsert`` (identity columns ride along with the verdicts)."""
        key = {"file_hash": self.clip.file_hash, "dataset": self.clip.dataset}
        groups: dict[str, dict[str, Any]] = {}
        for role, tx in (("primary", self.primary), ("secondary", self.secondary)):
            if tx is None:
                continue
            confidences = tx.confidences
            wer = None
            if self.verdicts is not None and tx.error is None:
                wer = self.verdicts.summary.primary_wer if role == "primary" else self.verdicts.summary.secondary_wer
            groups[role] = {
                **key,
                f"{role}_engine": tx.engine,
                f"{role}_model": tx.model,
                f"{role}_text": tx.text if tx.error is None else None,
                f"{role}_wer": wer,
                f"{role}_conf_mean": sum(confidences) / len(confidences) if confidences else None,
                f"{role}_conf_min": min(confidences) if confidences else None,
                f"{role}_ms": round(tx.ms, 1),
            }
        # Every verdict column is written, so a clip that now fails loses its stale counts.
        verdict_cols: dict[str, Any] = dict.fromkeys(GROUPS["verdicts"])
        verdict_cols |= {
            **key,
            "path": self.clip.path,
            "text": self.clip.text,
            "escalated": self.escalated,
            "escalation_reason": self.escalation_reason,
            "validate_error": self.error,
        }
        if self.verdicts is not None:
            summary = self.verdicts.summary
            verdict_cols.update(
                {
                    "n_words": summary.n_words,
                    **{f"n_{name}": count for name, count in summary.counts.items()},
                    "n_insertions": summary.n_insertions,
                    "adjusted_wer": summary.adjusted_wer,
                    "tier": summary.tier,
                    "keep": summary.keep and not self.mos_rejected,
                }
            )
        groups["verdicts"] = verdict_cols
        if self.signal is not None:
            groups["signal"] = {**key, **self.signal}
        elif self.duration_s is not None:
            groups["audio"] = {**key, "duration_s": self.duration_s}
        if self.mos is not None:
            groups["mos"] = {**key, **self.mos}
        return groups

    def word_rows(self) -> list[dict[str, Any]]:
        if self.verdicts is None:
            return []
        rows = []
        for word in (*self.verdicts.words, *self.verdicts.insertions):
            is_insertion = word.index < 0
            rows.append(
                {
                    "file_hash": self.clip.file_hash,
                    "dataset": self.clip.dataset,
                    "word_index": word.index,
                    "label_word": None if is_insertion else word.label_word,
                    "norm_word": None if is_insertion else word.norm_word,
                    "primary_word": word.primary_word,
                    "secondary_word": word.secondary_word,
                    "verdict": word.verdict,
                    "rule": word.rule,
                    "start_s": word.start_s,
                    "end_s": word.end_s,
                    "confidence": word.confidence,
                }
            )
        return rows

    def to_json(self) -> dict:
        return {"groups": self.rows(), "words": self.word_rows()}


def _duration(path: str) -> float | None:
    try:
        return float(sf.info(path).duration)
    except Exception:
        return None


def combine(
    clip: ClipSource,
    primary: Transcript | None,
    secondary: Transcript | None,
    escalated: bool,
    reason: str | None,
    thresholds: Thresholds,
) -> ClipResult:
    """Verdicts for one clip from whichever transcripts exist."""
    errors = [t.error for t in (primary, secondary) if t is not None and t.error]
    main, other = hypothesis(primary), hypothesis(secondary)
    if main is None and other is not None:  # secondary-only mode, or the primary failed on this file
        main, other = other, None
    if clip.problem or clip.text is None:
        return ClipResult(clip, primary, secondary, escalated, reason, None, clip.problem or "no label")
    if main is None:
        return ClipResult(clip, primary, secondary, escalated, reason, None, "; ".join(errors) or "no transcript")
    verdicts = judge_words(clip.text, main, other, thresholds, lexicon=g2p_lexicon())
    return ClipResult(clip, primary, secondary, escalated, reason, verdicts, "; ".join(errors) or None)


def decide_escalation(
    clip: ClipSource, primary: Transcript, engines: EngineMode, thresholds: Thresholds
) -> tuple[bool, str | None]:
    if engines == "both":
        return True, "engines=both"
    if engines != "cascade":
        return False, None
    if primary.error is not None:
        return True, f"primary failed: {primary.error}"
    if clip.text is None:
        return False, None
    solo = judge_words(clip.text, hypothesis(primary), None, thresholds, lexicon=g2p_lexicon())
    confidences = primary.confidences
    conf_mean = sum(confidences) / len(confidences) if confidences else None
    return should_escalate(solo.summary.primary_wer, conf_mean, thresholds)


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
    if result.verdicts is None and mos.mode in ("flagged_only", "passed_only"):
        return False
    counts = result.verdicts.summary.counts if result.verdicts is not None else {}
    keep = result.verdicts.summary.keep if result.verdicts is not None else None
    candidate = MOSCandidate(result.clip.file_hash, counts.get("tts_failure", 0), counts.get("ambiguous", 0), keep)
    return result.error is None and mos.wants(candidate, sampled)


def mos_item(result: ClipResult) -> AudioItem:
    return AudioItem(result.clip.file_hash, result.clip.audio_path, result.clip.text)


class QualityStage(Stage[ClipResult, ClipResult]):
    """The quality step (signal metrics for every clip, MOS for the clips ``mos`` selects) as a
    stage, for runners that map stages (Ray). ``sampled`` is the plan's choice over all clips,
    made once in the driver. Same functions as the local batch mode, so the same rows."""

    name = "quality"

    def __init__(
        self,
        mos: MOSPlan,
        sampled: set[str] | frozenset[str],
        thresholds: Thresholds,
        resources: Resources | None = None,
    ) -> None:
        self.mos = mos
        self.sampled = frozenset(sampled)
        self.thresholds = thresholds
        self.resources = resources or Resources(cpus=1, batch_size=8)

    def setup(self) -> None:
        for judge in self.mos.judges:
            judge.setup()

    def teardown(self) -> None:
        for judge in self.mos.judges:
            judge.teardown()

    def process_batch(self, items: Sequence[ClipResult]) -> list[ClipResult | ItemFailure]:
        chosen = [mos_item(r) for r in items if wants_mos(r, self.mos, self.sampled)]
        scores = score_clips(self.mos.judges, chosen, load=False)
        return [with_quality(r, scores.get(r.clip.file_hash), self.mos, self.thresholds) for r in items]


class WorkerValidationWriter:
    """The store write of a validate run when the runner writes from its workers (Ray): runs in
    the actor after each quality batch and returns ``(rows, error)`` for the driver's sink to
    ``absorb`` (``ValidationSink`` pickles and counts)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def __call__(self, items: Sequence[ClipResult], results: Sequence[ClipResult | ItemFailure]) -> tuple:
        before = self.sink.rows
        self.sink.write_validation([r for r in results if isinstance(r, ClipResult)])
        return self.sink.rows - before, self.sink.error


@dataclass
class ValidateReport:
    results: list[ClipResult] = field(default_factory=list)
    wall_s: float = 0.0
    engine_ms: dict[str, float] = field(default_factory=dict)

    @property
    def audio_s(self) -> float:
        return sum(r.duration_s or 0.0 for r in self.results)


def _in_batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _map(
    stage: TranscribeStage, clips: Sequence[ClipSource], on_item: Callable[[], None] | None, runner: Any = None
) -> dict[str, Transcript]:
    out: dict[str, Transcript] = {}
    if runner is not None:
        for batch, results in runner.map_batches(stage, _in_batches(clips, stage.resources.batch_size)):
            for clip, tx in zip(batch, results, strict=True):
                out[clip.file_hash] = tx
                if on_item:
                    on_item()
        return out
    stage.setup()
    try:
        for batch in _in_batches(clips, stage.resources.batch_size):
            for clip, tx in zip(batch, stage.process_batch(batch), strict=True):
                out[clip.file_hash] = tx
                if on_item:
                    on_item()
    finally:
        stage.teardown()
    return out


def run_validation(
    clips: Sequence[ClipSource],
    *,
    primary: ASRJudge | None,
    secondary: ASRJudge | None,
    engines: EngineMode,
    mode: RunMode,
    thresholds: Thresholds,
    on_result: Callable[[ClipResult], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    mos: MOSPlan | None = None,
    runner: Any = None,
    worker_sink: Any = None,
    gpus: float = 0.0,
    asr_runner: Any = None,
) -> ValidateReport:
    """Validate ``clips``; ``on_result`` gets each finished clip (the store and results log).

    ``runner`` (the Ray runner; None = in this process): every step is a stage mapped by the
    runner, stage by stage as in ``batch`` mode; ``worker_sink`` (a ``ValidationSink``) is then
    written from the workers after the quality step, and only absorbs the counts here. ``gpus``:
    what each ASR stage declares to the runner. ``asr_runner`` (batch mode, no ``runner``): maps only
    the transcription stages, e.g. a ``LocalRunner`` with one single-threaded engine per core."""
    report = ValidateReport()
    started = time.perf_counter()
    first = primary if engines != "secondary" else secondary
    second = secondary if engines in ("both", "cascade") else None
    if first is None:
        raise ValueError(f"engines={engines} needs the {'secondary' if engines == 'secondary' else 'primary'} engine")

    mos = mos or MOSPlan(mode="none")
    sampled = mos.sampled([c.file_hash for c in clips])

    def finish(result: ClipResult) -> None:
        report.results.append(result)
        if on_result:
            on_result(result)

    if runner is not None and mode != "batch":
        raise ValueError("a runner maps one stage at a time over all clips: use mode='batch'")
    if mode == "batch":
        asr = runner or asr_runner
        tick = (lambda: on_progress("first")) if on_progress else None
        first_tx = _map(TranscribeStage(first, gpus), clips, tick, asr)
        decisions = {c.file_hash: decide_escalation(c, first_tx[c.file_hash], engines, thresholds) for c in clips}
        todo = [c for c in clips if second is not None and decisions[c.file_hash][0]]
        tick2 = (lambda: on_progress("second")) if on_progress else None
        second_tx = _map(TranscribeStage(second, gpus), todo, tick2, asr) if todo else {}
        combined: list[ClipResult] = []
        for clip in clips:
            escalated, reason = decisions[clip.file_hash]
            p, s = first_tx[clip.file_hash], second_tx.get(clip.file_hash)
            if engines == "secondary":
                p, s = None, p
            combined.append(combine(clip, p, s, escalated and s is not None, reason, thresholds))
        if runner is not None:
            _quality_with_runner(runner, combined, mos, sampled, thresholds, worker_sink, finish)
            order = {(r.clip.file_hash, r.clip.path): i for i, r in enumerate(combined)}
            report.results.sort(key=lambda r: order[(r.clip.file_hash, r.clip.path)])  # clip order, as locally
        else:
            chosen = [mos_item(r) for r in combined if wants_mos(r, mos, sampled)]
            scores = score_clips(mos.judges, chosen, load=True)
            for result in combined:
                finish(with_quality(result, scores.get(result.clip.file_hash), mos, thresholds))
    else:
        stages = [TranscribeStage(first)] + ([TranscribeStage(second)] if second is not None else [])
        for stage in stages:
            stage.setup()
        for judge in mos.judges:
            judge.setup()
        try:
            for clip in clips:
                p = stages[0].process_batch([clip])[0]
                if on_progress:
                    on_progress("first")
                escalated, reason = decide_escalation(clip, p, engines, thresholds)
                s = None
                if escalated and len(stages) > 1:
                    s = stages[1].process_batch([clip])[0]
                    if on_progress:
                        on_progress("second")
                if engines == "secondary":
                    p, s = None, p
                result = combine(clip, p, s, escalated and s is not None, reason, thresholds)
                wanted = wants_mos(result, mos, sampled)
                scores = score_clips(mos.judges, [mos_item(result)], load=False) if wanted else {}
                finish(with_quality(result, scores.get(clip.file_hash), mos, thresholds))
        finally:
            for stage in stages:
                stage.teardown()
            for judge in mos.judges:
                judge.teardown()
    for result in report.results:
        for tx in (result.primary, result.secondary):
            if tx is not None:
                report.engine_ms[tx.engine] = report.engine_ms.get(tx.engine, 0.0) + tx.ms
        for judge, ms in ((result.mos or {}).get("mos_ms") or {}).items():
            report.engine_ms[judge] = report.engine_ms.get(judge, 0.0) + ms
    report.wall_s = time.perf_counter() - started
    return report


def _quality_with_runner(
    runner: Any,
    combined: Sequence[ClipResult],
    mos: MOSPlan,
    sampled: set[str],
    thresholds: Thresholds,
    worker_sink: Any,
    finish: Callable[[ClipResult], None],
) -> None:
    """The quality step as a ``QualityStage`` on ``runner``; the workers write ``worker_sink``,
    each clip is finished (results log) as its batch comes back."""
    stage = QualityStage(mos, sampled, thresholds)
    extra: dict[str, Any] = {}
    if worker_sink is not None:
        extra = {"worker_hook": WorkerValidationWriter(worker_sink), "on_report": lambda r: worker_sink.absorb(*r)}
    for _, results in runner.map_batches(stage, _in_batches(combined, stage.resources.batch_size), **extra):
        for result in results:
            if isinstance(result, ItemFailure):  # QualityStage does not make these; be loud if it ever does
                raise RuntimeError(f"quality step failed on {result.item_id}: {result.error}")
            finish(result)


class ResultsLog:
    """``<work>/validations/<dataset>.jsonl``: every clip's columns and words, appended as they
    finish, so ``pipeline db sync`` can store them when the database was unreachable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, result: ClipResult) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        latest: dict[tuple[str, str], dict] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            verdict = entry["groups"]["verdicts"]
            latest[(verdict["file_hash"], verdict["dataset"])] = entry
        return list(latest.values())
