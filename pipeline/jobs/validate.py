"""``validate`` as a library call: clips -> transcribe stage(s) -> verdicts -> MOS judges ->
quality stage -> rows, every stage mapped by a runner (local in-process, local worker processes
for the small Whisper engines, or Ray actors). The CLI, ``run`` and tests call
``validate(request, settings)``; ``run_validation`` is the stage flow for callers that bring
their own clips and engines.

Modes (same rows either way, checked by the tests):

* ``batch``: stage-sequential. Every clip through the primary engine, then (after it is freed)
  the escalated or all clips through the secondary, then each MOS judge in turn; one model in
  memory at a time.
* ``stream``: clip-sequential. Every stage stays open (a runner session each); each clip goes
  through all of them before the next one starts (lowest latency per clip).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from judges.base import ASRJudge, AudioItem, Scores, Transcript
from pipeline.choices import WHISPER_ENGINES, EngineMode, MosMode, RunMode, RunnerKind
from pipeline.clip_checks import ClipCheckThresholds
from pipeline.jobs.errors import JobError
from pipeline.jobs.generate import DatabaseOutcome
from pipeline.jobs.plumbing import open_runner, runner_errors, start_run_or_warn
from pipeline.jobs.reporting import LogReporter, Reporter
from pipeline.lifecycle import guarded_run
from pipeline.names import check_dataset_name, dataset_name_from
from pipeline.records import ClipResult, ClipSource
from pipeline.runner import LocalRunner
from pipeline.settings import Settings
from pipeline.stages.base import ItemFailure, Stage
from pipeline.stages.quality import MOSPlan, QualityItem, QualityStage, ScoreStage, mos_item, wants_mos
from pipeline.stages.speaker import SpeakerStage, speaker_items
from pipeline.stages.transcribe import TranscribeStage
from pipeline.stages.verdicts import combine, decide_escalation
from verdicts import Thresholds

# Whisper engines are small and scale poorly over threads: with enough clips, one
# single-threaded engine per core in worker processes beats one engine with every thread
# (measured: BENCHMARKS.md, validate local vs Ray). Production engines (multi-GB) and GPUs keep
# one in-process copy.
MIN_CLIPS_PER_ASR_WORKER = 4  # below this, spawning workers costs more than it saves


class WorkerValidationWriter:
    """The store write of a validate run when the runner writes from its workers (Ray): runs in
    the actor after each quality batch and returns ``(rows, error)`` for the driver's sink to
    ``absorb`` (``ValidationSink`` pickles and counts)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def __call__(self, items: Sequence[QualityItem], results: Sequence[ClipResult | ItemFailure]) -> tuple:
        before = self.sink.rows
        self.sink.write_validation([r for r in results if isinstance(r, ClipResult)])
        return self.sink.rows - before, self.sink.error


@dataclass
class ValidateReport:
    """What a validate run did; ``engines`` (role -> engine name) and ``database`` are filled by
    ``validate``."""

    results: list[ClipResult] = field(default_factory=list)
    wall_s: float = 0.0
    engine_ms: dict[str, float] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    database: DatabaseOutcome = DatabaseOutcome(attempted=False)

    @property
    def audio_s(self) -> float:
        return sum(r.duration_s or 0.0 for r in self.results)


def _in_batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _map_by_key(
    runner: Any, stage: Stage, items: Sequence[Any], key: Callable[[Any], str], on_item: Callable[[], None] | None
) -> dict[str, Any]:
    """``stage`` over ``items`` on ``runner``; results by ``key(item)``."""
    out: dict[str, Any] = {}
    for batch, results in runner.map_batches(stage, _in_batches(items, stage.resources.batch_size)):
        for item, result in zip(batch, results, strict=True):
            out[key(item)] = result
            if on_item:
                on_item()
    return out


def score_with_judges(runner: Any, judges: Sequence[Any], items: Sequence[AudioItem]) -> dict[str, list[Scores]]:
    """Every MOS judge over ``items``, one judge (one model in memory) after another."""
    scores: dict[str, list[Scores]] = {item.key: [] for item in items}
    if not items:
        return scores
    for judge in judges:
        for key, result in _map_by_key(runner, ScoreStage(judge), items, lambda i: i.key, None).items():
            scores[key].append(result)
    return scores


@dataclass(frozen=True, slots=True)
class _Flow:
    """The fixed parts of one validate run, shared by the batch and stream paths."""

    first: ASRJudge
    second: ASRJudge | None
    engines: EngineMode | str
    thresholds: Thresholds
    mos: MOSPlan
    sampled: frozenset[str]
    speaker: SpeakerStage | None = None
    checks: ClipCheckThresholds | None = None

    def combined(self, clip: ClipSource, p: Transcript | None, s: Transcript | None, decision) -> ClipResult:
        escalated, reason = decision
        if self.engines == EngineMode.secondary:
            p, s = None, p
        return combine(clip, p, s, escalated and s is not None, reason, self.thresholds)


def _batch(flow: _Flow, clips, runner, asr_runner, gpus, reporter: Reporter, worker_sink, finish) -> None:
    asr = asr_runner or runner
    tick = lambda: reporter.advance("validate")  # noqa: E731
    first_tx = _map_by_key(asr, TranscribeStage(flow.first, gpus), clips, lambda c: c.file_hash, tick)
    decisions = {c.file_hash: decide_escalation(c, first_tx[c.file_hash], flow.engines, flow.thresholds) for c in clips}
    todo = [c for c in clips if flow.second is not None and decisions[c.file_hash][0]]
    second_tx: dict[str, Transcript] = {}
    if todo:
        reporter.relabel("validate", "secondary (escalated clips)")
        second_tx = _map_by_key(asr, TranscribeStage(flow.second, gpus), todo, lambda c: c.file_hash, None)
    combined = [
        flow.combined(c, first_tx[c.file_hash], second_tx.get(c.file_hash), decisions[c.file_hash]) for c in clips
    ]
    chosen = [mos_item(r) for r in combined if wants_mos(r, flow.mos, flow.sampled)]
    scores = score_with_judges(runner, flow.mos.judges, chosen)
    similarities: dict[str, Any] = {}
    if flow.speaker is not None and (wanted := speaker_items(clips)):
        reporter.relabel("validate", "speaker similarity")
        similarities = _map_by_key(runner, flow.speaker, wanted, lambda i: i.key, None)
    items = [
        QualityItem(r, tuple(scores.get(r.clip.file_hash, ())), _similarity(similarities.get(r.clip.file_hash)))
        for r in combined
    ]
    stage = QualityStage(flow.mos, flow.thresholds, checks=flow.checks)
    extra: dict[str, Any] = {}
    if worker_sink is not None:
        extra = {"worker_hook": WorkerValidationWriter(worker_sink), "on_report": lambda r: worker_sink.absorb(*r)}
    finished: list[ClipResult] = []
    for _, results in runner.map_batches(stage, _in_batches(items, stage.resources.batch_size), **extra):
        for result in results:
            if isinstance(result, ItemFailure):  # QualityStage does not make these; be loud if it ever does
                raise RuntimeError(f"quality step failed on {result.item_id}: {result.error}")
            finished.append(result)
    order = {(r.clip.file_hash, r.clip.path): i for i, r in enumerate(combined)}
    for result in sorted(finished, key=lambda r: order[(r.clip.file_hash, r.clip.path)]):  # clip order
        finish(result)


def _similarity(value: Any) -> float | None:
    """A speaker stage result as a similarity (a failed reference was logged by the stage)."""
    return value if isinstance(value, float) else None


def _stream(flow: _Flow, clips, reporter: Reporter, finish) -> None:
    from contextlib import ExitStack

    with ExitStack() as open_stages:
        session = lambda stage: open_stages.enter_context(LocalRunner.session(stage))  # noqa: E731
        first = session(TranscribeStage(flow.first))
        second = session(TranscribeStage(flow.second)) if flow.second is not None else None
        judges = [session(ScoreStage(judge)) for judge in flow.mos.judges]
        speaker = session(flow.speaker) if flow.speaker is not None else None
        quality = session(QualityStage(flow.mos, flow.thresholds, checks=flow.checks))
        for clip in clips:
            p = first([clip])[0]
            reporter.advance("validate")
            decision = decide_escalation(clip, p, flow.engines, flow.thresholds)
            s = second([clip])[0] if decision[0] and second is not None else None
            result = flow.combined(clip, p, s, decision)
            wanted = wants_mos(result, flow.mos, flow.sampled)
            scores = tuple(judge([mos_item(result)])[0] for judge in judges) if wanted else ()
            voiced = speaker_items([clip]) if speaker is not None else []
            similarity = _similarity(speaker(voiced)[0]) if voiced else None
            finish(quality([QualityItem(result, scores, similarity)])[0])


def run_validation(
    clips: Sequence[ClipSource],
    *,
    primary: ASRJudge | None,
    secondary: ASRJudge | None,
    engines: EngineMode | str,
    mode: RunMode | str,
    thresholds: Thresholds,
    on_result: Callable[[ClipResult], None] | None = None,
    reporter: Reporter | None = None,
    mos: MOSPlan | None = None,
    runner: Any = None,
    worker_sink: Any = None,
    gpus: float = 0.0,
    asr_runner: Any = None,
    speaker: SpeakerStage | None = None,
    checks: ClipCheckThresholds | None = None,
) -> ValidateReport:
    """Validate ``clips``; ``on_result`` gets each finished clip, in clip order (results log, store).

    ``runner`` maps every stage (default: this process; the Ray runner maps each stage over all
    clips, so only ``batch`` mode); ``worker_sink`` (a ``ValidationSink``) is then written from the
    workers after the quality stage and only absorbs the counts here. ``gpus``: what each ASR
    stage declares to the runner. ``asr_runner`` (batch mode): maps only the transcription stages,
    e.g. a ``LocalRunner`` with one single-threaded engine per core. ``speaker``: the speaker
    similarity stage (None: no similarity); ``checks``: the clip checks' thresholds."""
    report = ValidateReport()
    reporter = reporter or LogReporter()
    started = time.perf_counter()
    first = primary if engines != EngineMode.secondary else secondary
    second = secondary if engines in (EngineMode.both, EngineMode.cascade) else None
    if first is None:
        needed = "secondary" if engines == EngineMode.secondary else "primary"
        raise ValueError(f"engines={engines} needs the {needed} engine")
    if runner is not None and mode != RunMode.batch:
        raise ValueError("a runner maps one stage at a time over all clips: use mode='batch'")
    mos = mos or MOSPlan(mode=MosMode.none)
    sampled = frozenset(mos.sampled([c.file_hash for c in clips]))
    flow = _Flow(first, second, engines, thresholds, mos, sampled, speaker, checks)

    def finish(result: ClipResult) -> None:
        report.results.append(result)
        if on_result:
            on_result(result)

    reporter.start("validate", len(clips))
    if mode == RunMode.batch:
        _batch(flow, clips, runner or LocalRunner(1), asr_runner, gpus, reporter, worker_sink, finish)
    else:
        _stream(flow, clips, reporter, finish)
    reporter.finish("validate")
    for result in report.results:
        for tx in (result.primary, result.secondary):
            if tx is not None:
                report.engine_ms[tx.engine] = report.engine_ms.get(tx.engine, 0.0) + tx.ms
        for judge, ms in ((result.mos or {}).get("mos_ms") or {}).items():
            report.engine_ms[judge] = report.engine_ms.get(judge, 0.0) + ms
    report.wall_s = time.perf_counter() - started
    return report


@dataclass(frozen=True, slots=True)
class ValidateRequest:
    """One ``validate`` call. Engine names, MOS plan and execution knobs come from ``Settings``."""

    source: Path  # dataset dir, manifest.jsonl, wav+txt folder or HF save_to_disk dir
    dataset: str | None = None  # row label (default: the folder's name)
    engines: EngineMode = EngineMode.cascade
    mode: RunMode = RunMode.batch
    db: bool = True
    audio_column: str = "audio"
    text_column: str = "text"

    @property
    def dataset_name(self) -> str:
        """``dataset`` when given (it must be a safe name: ``JobError`` otherwise), else the
        folder's name made safe."""
        if self.dataset is not None:
            try:
                return check_dataset_name(self.dataset)
            except ValueError as exc:
                raise JobError(str(exc)) from exc
        return dataset_name_from(self.source.parent.name if self.source.is_file() else self.source.resolve().name)


def local_asr_workers(settings: Settings, mode: str, n_clips: int, engines: list[str]) -> int:
    """Worker processes for the transcription stages of a local batch-mode run (1 = in process)."""
    if settings.runner == RunnerKind.ray or mode != RunMode.batch or settings.asr_device not in ("auto", "cpu"):
        return 1
    if not engines or any(name not in WHISPER_ENGINES for name in engines):
        return 1
    if settings.asr_device == "auto":
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return 1
    workers = settings.workers or os.cpu_count() or 1
    return max(1, min(workers, n_clips // MIN_CLIPS_PER_ASR_WORKER))


def _discover(request: ValidateRequest, settings: Settings, reporter: Reporter) -> list[ClipSource]:
    from pipeline.sources import discover

    dataset = request.dataset_name
    try:
        clips, issues = discover(
            request.source,
            dataset,
            settings.work_dir / "validate_cache" / dataset,
            audio_column=request.audio_column,
            text_column=request.text_column,
        )
    except (OSError, ValueError) as exc:
        raise JobError(str(exc)) from exc
    for issue in issues[:20]:
        reporter.note(f"skipped: {issue.path}: {issue.problem}", "warning")
    if not clips:
        raise JobError(f"{request.source}: no audio clips found")
    return clips


def _asr_judges(request: ValidateRequest, settings: Settings, n_clips: int, reporter: Reporter):
    """(settings with ASR threads sized for the workers, {role: judge}, {role: engine name}, workers)."""
    from judges.registry import build_asr, resolve_engine

    try:
        choices = {
            "primary": resolve_engine(settings.asr_primary, "primary", settings),
            "secondary": resolve_engine(settings.asr_secondary, "secondary", settings),
        }
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    needed = {"primary": request.engines != EngineMode.secondary, "secondary": request.engines != EngineMode.primary}
    names = {role: choice.name for role, choice in choices.items() if needed[role]}
    workers = local_asr_workers(settings, request.mode, n_clips, list(names.values()))
    if workers > 1 and settings.asr_threads == 0:  # one single-threaded engine per core
        settings = settings.model_copy(update={"asr_threads": max(1, (os.cpu_count() or 1) // workers)})
    judges = {}
    for role, choice in choices.items():
        if needed[role]:
            reporter.note(f"{role} engine: {choice.name} ({choice.reason})")
            judges[role] = build_asr(choice.name, settings)
    return settings, judges, {role: c.name for role, c in choices.items()}, workers


def mos_plan(settings: Settings, reporter: Reporter) -> MOSPlan:
    """The MOS judges ``settings`` asks for (those that cannot run here are skipped, with why)."""
    from judges.mos import build_mos_judges

    judges, skipped = build_mos_judges(settings.mos_judges, settings) if settings.mos_mode != MosMode.none else ([], {})
    for reason in skipped.values():
        reporter.note(f"MOS judge skipped: {reason}", "detail")
    sampling = f" (rate {settings.mos_sample_rate}, seed {settings.mos_seed})"
    reporter.note(
        f"MOS: mode {settings.mos_mode}"
        + (sampling if settings.mos_mode == MosMode.sample else "")
        + f", judges {', '.join(j.info.name for j in judges) or 'none'}"
    )
    return MOSPlan(settings.mos_mode, settings.mos_sample_rate, settings.mos_seed, tuple(judges), skipped)


def clip_checks_from(settings: Settings) -> ClipCheckThresholds:
    """The clip checks' thresholds: the settings fields of the same names."""
    return ClipCheckThresholds(**{f.name: getattr(settings, f.name) for f in fields(ClipCheckThresholds)})


def speaker_stage(settings: Settings, clips: Sequence[ClipSource], reporter: Reporter) -> SpeakerStage | None:
    """The speaker similarity stage when the clips have voices and the encoder is installed."""
    from judges.speaker import ResemblyzerJudge
    from pipeline.stages.speaker import VoiceReferences

    if not settings.speaker_check or not speaker_items(clips):
        return None
    judge = ResemblyzerJudge(device=settings.mos_device, threads=settings.mos_threads)
    if (why := judge.unavailable_reason()) is not None:
        reporter.note(f"speaker similarity skipped: {why}", "warning")
        return None
    return SpeakerStage(judge, VoiceReferences(settings))


def _open_sink(request: ValidateRequest, settings: Settings, engines: dict[str, str], reporter: Reporter):
    from pipeline.store.store import ValidationSink

    args = {"engines": request.engines, "mode": request.mode, **engines}
    store, run_id = start_run_or_warn(settings, "validate", args, request.dataset_name, "the validations log", reporter)
    return ValidationSink(store, run_id) if store is not None else None


def validate(request: ValidateRequest, settings: Settings, reporter: Reporter | None = None) -> ValidateReport:
    """Transcribe every clip of ``request.source``, give every label word a verdict, score it,
    and store one row per clip (and its words); raises ``JobError`` for input it cannot use."""
    reporter = reporter or LogReporter()
    request.dataset_name  # noqa: B018 - refuses an unsafe --dataset before anything is written
    if settings.runner == RunnerKind.ray and request.mode != RunMode.batch:
        raise JobError("--runner ray maps one stage at a time over all clips: use --mode batch")
    return validate_clips(_discover(request, settings, reporter), request, settings, reporter)


def validate_clips(
    clips: Sequence[ClipSource], request: ValidateRequest, settings: Settings, reporter: Reporter | None = None
) -> ValidateReport:
    """``validate`` of the given clips (already discovered: heal passes the attempts it made), with
    the engines, judges, checks, results log and rows ``request`` and ``settings`` name."""
    from pipeline.store.results_log import ResultsLog

    reporter = reporter or LogReporter()
    settings, judges, engine_names, asr_workers = _asr_judges(request, settings, len(clips), reporter)
    mos = mos_plan(settings, reporter)
    sink = _open_sink(request, settings, engine_names, reporter) if request.db else None
    results_log = ResultsLog(settings.work_dir / "validations" / f"{request.dataset_name}.jsonl")
    ray = settings.runner == RunnerKind.ray

    def on_result(result: ClipResult) -> None:
        results_log.append(result)
        if sink is not None and not ray:  # with Ray the workers write the store
            sink.write_validation([result])

    run_store, run_id = (sink.store, sink.run_id) if sink is not None else (None, None)
    with guarded_run(run_store, run_id), open_runner(settings, 1) as runner:
        try:
            report = run_validation(
                clips,
                primary=judges.get("primary"),
                secondary=judges.get("secondary"),
                engines=request.engines,
                mode=request.mode,
                thresholds=settings.thresholds,
                on_result=on_result,
                reporter=reporter,
                mos=mos,
                runner=runner if ray else None,
                asr_runner=LocalRunner(asr_workers) if asr_workers > 1 else None,
                worker_sink=sink if ray else None,
                gpus=settings.gpus_per_worker,
                speaker=speaker_stage(settings, clips, reporter),
                checks=clip_checks_from(settings),
            )
        except runner_errors() as exc:
            raise JobError(str(exc)) from exc
    if sink is not None:
        sink.finish(report)
    report.engines = engine_names
    report.database = (
        DatabaseOutcome(attempted=True, rows=sink.rows, error=sink.error) if sink else DatabaseOutcome(False)
    )
    return report
