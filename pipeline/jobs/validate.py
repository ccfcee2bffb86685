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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import soundfile as sf

from judges.base import ASRJudge, AudioItem, Scores, Transcript
from pipeline.choices import WHISPER_ENGINES, EngineMode, MosMode, Only, RunMode, RunnerKind
from pipeline.clip_checks import ClipCheckThresholds
from pipeline.jobs.errors import JobError
from pipeline.jobs.generate import DatabaseOutcome
from pipeline.jobs.plumbing import open_runner, runner_errors, start_run_or_warn
from pipeline.jobs.reporting import LogReporter, Reporter
from pipeline.jobs.resume import WorkPlan, plan_work, requested_fingerprints
from pipeline.lifecycle import guarded_run
from pipeline.names import check_dataset_name, dataset_name_from
from pipeline.records import ClipResult, ClipSource
from pipeline.runner import LocalRunner
from pipeline.settings import Settings
from pipeline.stages.base import ItemFailure, Stage
from pipeline.stages.quality import MOSPlan, QualityItem, QualityStage, ScoreStage, mos_item, wants_mos
from pipeline.stages.reverdict import Rules, judge_stored
from pipeline.stages.speaker import SpeakerStage, speaker_items
from pipeline.stages.transcribe import TranscribeStage
from pipeline.stages.verdicts import combine, decide_escalation
from pipeline.store.connection import StoreUnavailable
from pipeline.store.scans import ESCALATED_NEEDS_SECONDARY, ClipSelection, StoredClip, stored_state
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
    skipped: int = 0  # clips whose stored results were already what this run asks for
    rejudged: int = 0  # clips judged again from their stored transcripts (only the rules changed)
    transcribed: dict[str, int] = field(default_factory=dict)  # engine -> clips it transcribed
    reused: dict[str, int] = field(default_factory=dict)  # engine -> stored transcripts used instead

    @property
    def audio_s(self) -> float:
        return sum(r.duration_s or 0.0 for r in self.results)


def _in_batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def map_by_key(
    runner: Any,
    stage: Stage,
    items: Sequence[Any],
    key: Callable[[Any], str],
    on_item: Callable[[Any, Any], None] | None,
) -> dict[str, Any]:
    """``stage`` over ``items`` on ``runner``; results by ``key(item)`` (``on_item(item, result)``
    as each arrives)."""
    out: dict[str, Any] = {}
    for batch, results in runner.map_batches(stage, _in_batches(items, stage.resources.batch_size)):
        for item, result in zip(batch, results, strict=True):
            out[key(item)] = result
            if on_item:
                on_item(item, result)
    return out


def audio_seconds(clip: ClipSource) -> float:
    """The clip's length in seconds from its header (0 when unreadable: the run reports that)."""
    try:
        return float(sf.info(clip.audio_path).duration)
    except Exception:
        return 0.0


def score_with_judges(runner: Any, judges: Sequence[Any], items: Sequence[AudioItem]) -> dict[str, list[Scores]]:
    """Every MOS judge over ``items``, one judge (one model in memory) after another."""
    scores: dict[str, list[Scores]] = {item.key: [] for item in items}
    if not items:
        return scores
    for judge in judges:
        for key, result in map_by_key(runner, ScoreStage(judge), items, lambda i: i.key, None).items():
            scores[key].append(result)
    return scores


NO_KNOWN: Mapping[str, Mapping[str, Transcript]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _Flow:
    """The fixed parts of one validate run, shared by the batch and stream paths."""

    first: ASRJudge | None
    second: ASRJudge | None
    engines: EngineMode | str
    thresholds: Thresholds
    mos: MOSPlan
    sampled: frozenset[str]
    speaker: SpeakerStage | None = None
    checks: ClipCheckThresholds | None = None
    # Stored transcripts to use instead of transcribing (role -> file_hash -> transcript), and
    # the fingerprints of everything (pipeline.jobs.resume); empty: none recorded.
    known: Mapping[str, Mapping[str, Transcript]] = field(default_factory=dict)
    prints: Mapping[str, Any] = field(default_factory=dict)
    known_prints: Mapping[str, Mapping[str, dict]] = field(default_factory=dict)
    on_transcript: Callable[[str, ClipSource, Transcript], None] | None = None

    @property
    def roles(self) -> tuple[str, str]:
        """The stored roles of the first and second engine of this flow."""
        return ("secondary", "primary") if self.engines == EngineMode.secondary else ("primary", "secondary")

    def known_for(self, role: str, clip: ClipSource) -> Transcript | None:
        return self.known.get(role, {}).get(clip.file_hash)

    def needs_asr(self, clip: ClipSource, role: str) -> bool:
        return clip.labeled and self.known_for(role, clip) is None

    def transcribed(self, role: str, clip: ClipSource, tx: Transcript) -> None:
        if self.on_transcript is not None:
            self.on_transcript(role, clip, tx)

    def fingerprints(self, clip: ClipSource, p: Transcript | None, s: Transcript | None) -> dict | None:
        if not self.prints:
            return None
        out = {group: self.prints[group] for group in ("verdicts", "quality", "mos")}
        for role, tx in (("primary", p), ("secondary", s)):  # None: the verdicts do not use one
            out[role] = None if tx is None else self.known_prints.get(role, {}).get(clip.file_hash) or self.prints[role]
        return out

    def combined(self, clip: ClipSource, p: Transcript | None, s: Transcript | None, decision) -> ClipResult:
        escalated, reason = decision
        if self.engines == EngineMode.secondary:
            p, s = None, p
        result = combine(clip, p, s, escalated and s is not None, reason, self.thresholds)
        return replace(result, fingerprints=self.fingerprints(clip, p, s))

    def decide(self, clip: ClipSource, first: Transcript | None) -> tuple[bool, str | None]:
        if first is None:  # unlabeled audio: nothing to transcribe
            return False, None
        return decide_escalation(clip, first, self.engines, self.thresholds)


def _transcribe(flow: _Flow, role: str, runner, judge, clips, gpus, on_item) -> dict[str, Transcript]:
    """``judge`` over the clips of ``clips`` that need it (labeled, no reusable stored transcript);
    the stored ones for the rest. Each new transcript goes to ``flow.on_transcript`` at once."""
    out = {c.file_hash: tx for c in clips if (tx := flow.known_for(role, c)) is not None}
    todo = [c for c in clips if flow.needs_asr(c, role)]
    if todo and judge is None:
        raise ValueError(f"{len(todo)} clip(s) have no stored {role} transcript and no {role} engine runs")

    def done(clip: ClipSource, tx: Transcript) -> None:
        flow.transcribed(role, clip, tx)
        if on_item is not None:
            on_item(clip)

    if todo:
        out |= map_by_key(runner, TranscribeStage(judge, gpus), todo, lambda c: c.file_hash, done)
    return out


def _batch(flow: _Flow, clips, runner, asr_runner, gpus, reporter: Reporter, worker_sink, finish) -> None:
    asr = asr_runner or runner
    first_role, second_role = flow.roles
    tick = lambda clip: reporter.advance("validate", 1, audio_seconds(clip))  # noqa: E731
    for clip in clips:  # nothing to transcribe: counted at once
        if not flow.needs_asr(clip, first_role):
            tick(clip)
    first_tx = _transcribe(flow, first_role, asr, flow.first, clips, gpus, tick)
    decisions = {c.file_hash: flow.decide(c, first_tx.get(c.file_hash)) for c in clips}
    todo = [c for c in clips if flow.second is not None and decisions[c.file_hash][0]]
    second_tx: dict[str, Transcript] = {}
    if todo:
        reporter.relabel("validate", "secondary (escalated clips)")
        second_tx = _transcribe(flow, second_role, asr, flow.second, todo, gpus, None)
    combined = [
        flow.combined(c, first_tx.get(c.file_hash), second_tx.get(c.file_hash), decisions[c.file_hash]) for c in clips
    ]
    chosen = [mos_item(r) for r in combined if wants_mos(r, flow.mos, flow.sampled)]
    scores = score_with_judges(runner, flow.mos.judges, chosen)
    similarities: dict[str, Any] = {}
    if flow.speaker is not None and (wanted := speaker_items(clips)):
        reporter.relabel("validate", "speaker similarity")
        similarities = map_by_key(runner, flow.speaker, wanted, lambda i: i.key, None)
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
        first_role, second_role = flow.roles
        first = _lazy(session, flow.first)
        second = _lazy(session, flow.second)
        judges = [session(ScoreStage(judge)) for judge in flow.mos.judges]
        speaker = session(flow.speaker) if flow.speaker is not None else None
        quality = session(QualityStage(flow.mos, flow.thresholds, checks=flow.checks))

        def transcript(role: str, engine, clip: ClipSource) -> Transcript | None:
            if not flow.needs_asr(clip, role):
                return flow.known_for(role, clip)
            tx = engine()([clip])[0]
            flow.transcribed(role, clip, tx)
            return tx

        for clip in clips:
            p = transcript(first_role, first, clip)
            reporter.advance("validate", 1, audio_seconds(clip))
            decision = flow.decide(clip, p)
            s = transcript(second_role, second, clip) if decision[0] and flow.second is not None else None
            result = flow.combined(clip, p, s, decision)
            wanted = wants_mos(result, flow.mos, flow.sampled)
            scores = tuple(judge([mos_item(result)])[0] for judge in judges) if wanted else ()
            voiced = speaker_items([clip]) if speaker is not None else []
            similarity = _similarity(speaker(voiced)[0]) if voiced else None
            finish(quality([QualityItem(result, scores, similarity)])[0])


def _lazy(session, judge: ASRJudge | None) -> Callable[[], Callable]:
    """A stream-mode transcribe stage opened on first use (a run that reuses every stored
    transcript loads no engine)."""
    opened: list[Callable] = []

    def get() -> Callable:
        if judge is None:
            raise ValueError("a clip has no stored transcript and no engine runs for it")
        if not opened:
            opened.append(session(TranscribeStage(judge)))
        return opened[0]

    return get


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
    known: Mapping[str, Mapping[str, Transcript]] = NO_KNOWN,
    fingerprints: Mapping[str, Any] | None = None,
    known_fingerprints: Mapping[str, Mapping[str, dict]] = NO_KNOWN,
    on_transcript: Callable[[str, ClipSource, Transcript], None] | None = None,
    mos_keys: Sequence[str] | None = None,
) -> ValidateReport:
    """Validate ``clips``; ``on_result`` gets each finished clip, in clip order (results log, store).

    ``runner`` maps every stage (default: this process; the Ray runner maps each stage over all
    clips, so only ``batch`` mode); ``worker_sink`` (a ``ValidationSink``) is then written from the
    workers after the quality stage and only absorbs the counts here. ``gpus``: what each ASR
    stage declares to the runner. ``asr_runner`` (batch mode): maps only the transcription stages,
    e.g. a ``LocalRunner`` with one single-threaded engine per core. ``speaker``: the speaker
    similarity stage (None: no similarity); ``checks``: the clip checks' thresholds.

    Resume (``pipeline.jobs.resume``): ``known`` stored transcripts (role -> file_hash) are used
    instead of transcribing (an engine may then be None when every clip has one);
    ``fingerprints`` (the requested work's, by group) and ``known_fingerprints`` (the reused
    transcripts') are recorded on each result; ``on_transcript(role, clip, transcript)`` gets
    each new transcript as the engine returns it (so it is stored before the clip finishes);
    ``mos_keys``: the keys the MOS sample is drawn over (default: these clips')."""
    report = ValidateReport()
    reporter = reporter or LogReporter()
    started = time.perf_counter()
    first = primary if engines != EngineMode.secondary else secondary
    second = secondary if engines in (EngineMode.both, EngineMode.cascade) else None
    first_role = "secondary" if engines == EngineMode.secondary else "primary"
    if first is None and any(c.labeled and c.file_hash not in known.get(first_role, {}) for c in clips):
        raise ValueError(f"engines={engines} needs the {first_role} engine")
    if runner is not None and mode != RunMode.batch:
        raise ValueError("a runner maps one stage at a time over all clips: use mode='batch'")
    mos = mos or MOSPlan(mode=MosMode.none)
    sampled = frozenset(mos.sampled(list(mos_keys) if mos_keys is not None else [c.file_hash for c in clips]))
    flow = _Flow(
        first, second, engines, thresholds, mos, sampled, speaker, checks,
        known, MappingProxyType(dict(fingerprints or {})), known_fingerprints, on_transcript,
    )  # fmt: skip

    def finish(result: ClipResult) -> None:
        report.results.append(result)
        if on_result:
            on_result(result)

    reporter.start("validate", len(clips), sum(audio_seconds(c) for c in clips))
    if mode == RunMode.batch:
        _batch(flow, clips, runner or LocalRunner(1), asr_runner, gpus, reporter, worker_sink, finish)
    else:
        _stream(flow, clips, reporter, finish)
    reporter.finish("validate")
    for result in report.results:
        for role, tx in (("primary", result.primary), ("secondary", result.secondary)):
            if tx is None:
                continue
            if result.clip.file_hash in known.get(role, {}):
                report.reused[tx.engine] = report.reused.get(tx.engine, 0) + 1
                continue
            report.transcribed[tx.engine] = report.transcribed.get(tx.engine, 0) + 1
            report.engine_ms[tx.engine] = report.engine_ms.get(tx.engine, 0.0) + tx.ms
        for judge, ms in ((result.mos or {}).get("mos_ms") or {}).items():
            report.engine_ms[judge] = report.engine_ms.get(judge, 0.0) + ms
    report.wall_s = time.perf_counter() - started
    return report


@dataclass(frozen=True, slots=True)
class ValidateRequest:
    """One ``validate`` call. Engine names, MOS plan and execution knobs come from ``Settings``."""

    # dataset dir, manifest.jsonl, wav+txt folder or HF save_to_disk dir; None: the generated
    # dataset <work>/datasets/<dataset> (``dataset`` is then required)
    source: Path | None
    dataset: str | None = None  # row label (default: the folder's name)
    engines: EngineMode = EngineMode.cascade
    mode: RunMode = RunMode.batch
    db: bool = True
    audio_column: str = "audio"
    text_column: str = "text"
    # Which clips (``--only``/``--voice``/``--book``/``--limit``: read from the database) and
    # whether to redo clips whose stored results are already what this run would write.
    selection: ClipSelection = ClipSelection()
    force: bool = False

    @property
    def dataset_name(self) -> str:
        """``dataset`` when given (it must be a safe name: ``JobError`` otherwise), else the
        folder's name made safe."""
        if self.dataset is not None:
            try:
                return check_dataset_name(self.dataset)
            except ValueError as exc:
                raise JobError(str(exc)) from exc
        if self.source is None:
            raise JobError("name the clips: a source folder, or --dataset for a generated dataset")
        return dataset_name_from(self.source.parent.name if self.source.is_file() else self.source.resolve().name)

    def source_in(self, settings: Settings) -> Path:
        return self.source if self.source is not None else settings.datasets_dir / self.dataset_name

    @property
    def staged(self) -> bool:
        """``--engines secondary --only escalated``: the second stage of a staged scan. It runs
        the cascade over the clips with stored primary words: the secondary engine transcribes
        exactly the clips the cascade escalates (decided from the stored primary words and the
        current thresholds), and their verdicts come from both transcripts. ``--only flagged``
        with ``--engines secondary`` is the older spelling of the same scan."""
        return self.engines == EngineMode.secondary and self.selection.only in (Only.escalated, Only.flagged)

    @property
    def effective_engines(self) -> EngineMode:
        return EngineMode.cascade if self.staged else self.engines


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


def discover_clips(request: ValidateRequest, settings: Settings, reporter: Reporter) -> list[ClipSource]:
    from pipeline.sources import discover

    dataset = request.dataset_name
    try:
        clips, issues = discover(
            request.source_in(settings),
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
        raise JobError(f"{request.source_in(settings)}: no audio clips found")
    return clips


def _engine_choices(request: ValidateRequest, settings: Settings, reporter: Reporter) -> dict[str, Any]:
    """{role: EngineChoice} of the engines this run builds (a staged secondary scan takes the
    primary words from the store and builds no primary)."""
    from judges.registry import resolve_engine

    engines = request.engines
    needed = {"primary": engines not in (EngineMode.secondary,), "secondary": engines != EngineMode.primary}
    try:
        choices = {
            role: resolve_engine(getattr(settings, f"asr_{role}"), role, settings)
            for role in ("primary", "secondary")
            if needed[role]
        }
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    for role, choice in choices.items():
        reporter.note(f"{role} engine: {choice.name} ({choice.reason})")
    return choices


def _asr_judges(request: ValidateRequest, settings: Settings, choices: dict[str, Any], n_clips: int):
    """(settings with ASR threads sized for the workers, {role: judge}, workers) for ``n_clips``
    clips to transcribe."""
    from judges.registry import build_asr

    workers = local_asr_workers(settings, request.mode, n_clips, [c.name for c in choices.values()])
    if workers > 1 and settings.asr_threads == 0:  # one single-threaded engine per core
        settings = settings.model_copy(update={"asr_threads": max(1, (os.cpu_count() or 1) // workers)})
    return settings, {role: build_asr(c.name, settings) for role, c in choices.items()}, workers


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


def _select(
    request: ValidateRequest, clips: list[ClipSource], sink: Any, reporter: Reporter
) -> tuple[list[ClipSource], dict[str, StoredClip]]:
    """The discovered clips the selection flags take, and what the database holds for them
    (nothing without a database: then every clip is validated, as before resume existed)."""
    selection = request.selection
    if selection.only == Only.escalated and not request.staged:
        raise JobError(ESCALATED_NEEDS_SECONDARY)
    needs_db = request.staged or selection != ClipSelection(limit=selection.limit)
    if sink is None:
        if needs_db:
            raise JobError("--only, --voice, --book and staged scans read the stored results: the database is needed")
        return clips[: selection.limit], {}
    query = replace(selection, only=Only.all) if request.staged else selection
    try:
        stored, chosen = stored_state(sink.store, request.dataset_name, [c.file_hash for c in clips], query)
    except StoreUnavailable as exc:
        if needs_db:
            raise JobError(str(exc)) from exc
        reporter.note(f"{exc}: no resume, every clip is validated", "warning")
        return clips[: selection.limit], {}
    if request.staged:
        chosen = {h for h in chosen if h in stored and "primary" in stored[h].transcripts}
        missing = [c for c in clips if c.labeled and c.file_hash not in chosen]
        if missing:
            reporter.note(
                f"{len(missing)} clip(s) have no stored primary words (run --engines primary first): left out",
                "warning",
            )
    taken = [c for c in clips if c.file_hash in chosen and (c.labeled or not request.staged)]
    return taken[: selection.limit], stored


def _rejudge(
    work: WorkPlan,
    clips: Sequence[ClipSource],
    stored: Mapping[str, StoredClip],
    rules: Rules,
    engines: EngineMode,
    sink: Any,
    reporter: Reporter,
) -> list[ClipResult]:
    """Judge ``work.rejudge`` again from the store (only their verdicts were stale) and write the
    rows that changed; a clip the cascade would now escalate, or one with nothing to judge,
    joins ``work.todo`` (in clip order) for a full validation. Returns the re-judged results."""
    if not work.rejudge:
        return []
    results: list[ClipResult] = []
    entries: list[dict] = []
    refreshes: list[tuple[str, str, dict]] = []
    onward: set[str] = set()
    for clip in work.rejudge:
        judged = judge_stored(stored[clip.file_hash], rules)
        if judged.result is None or (engines == EngineMode.cascade and judged.rejudged.would_escalate):
            onward.add(clip.file_hash)
            continue
        results.append(replace(judged.result, duration_s=stored[clip.file_hash].row.get("duration_s")))
        if judged.entry is not None:
            entries.append(judged.entry)
        elif judged.refresh is not None:
            refreshes.append(judged.refresh)
    if sink is not None:
        sink.write_rejudged(entries, refreshes)
    if onward:
        todo = {c.file_hash for c in work.todo} | onward
        work.todo = [c for c in clips if c.file_hash in todo]
    reporter.note(
        f"{len(results)} clip(s) judged again from their stored transcripts (only the rules changed):"
        f" {len(entries)} rewritten"
    )
    return results


def _transcript_writer(sink: Any) -> Callable[[str, ClipSource, Transcript], None] | None:
    """Stores each new transcript as the engine returns it (a run killed later keeps it)."""
    if sink is None:
        return None
    from pipeline.store.transcripts import transcript_row

    def write(role: str, clip: ClipSource, tx: Transcript) -> None:
        fingerprint = sink.fingerprints.get(role)
        if fingerprint is not None and tx.error is None:
            identity = {"file_hash": clip.file_hash, "dataset": clip.dataset, "path": clip.path, "text": clip.text}
            sink.write_transcripts([transcript_row(clip.file_hash, clip.dataset, role, tx, fingerprint)], [identity])

    return write


def validate(request: ValidateRequest, settings: Settings, reporter: Reporter | None = None) -> ValidateReport:
    """Transcribe every clip of ``request.source``, give every label word a verdict, score it,
    and store one row per clip (and its words); raises ``JobError`` for input it cannot use."""
    reporter = reporter or LogReporter()
    request.dataset_name  # noqa: B018 - refuses an unsafe --dataset before anything is written
    if settings.runner == RunnerKind.ray and request.mode != RunMode.batch:
        raise JobError("--runner ray maps one stage at a time over all clips: use --mode batch")
    return validate_clips(discover_clips(request, settings, reporter), request, settings, reporter)


def validate_clips(
    found: Sequence[ClipSource], request: ValidateRequest, settings: Settings, reporter: Reporter | None = None
) -> ValidateReport:
    """``validate`` of the given clips (already discovered: heal passes the attempts it made), with
    the selection, resume, engines, judges, checks, results log and rows ``request`` and
    ``settings`` name."""
    from pipeline.store.results_log import ResultsLog

    reporter = reporter or LogReporter()
    engines = request.effective_engines
    choices = _engine_choices(request, settings, reporter)
    engine_names = {role: c.name for role, c in choices.items()}
    sink = _open_sink(request, settings, engine_names, reporter) if request.db else None
    clips, stored = _select(request, found, sink, reporter)
    settings, judges, asr_workers = _asr_judges(request, settings, choices, len(clips))
    mos = mos_plan(settings, reporter)
    checks = clip_checks_from(settings)
    speaker = speaker_stage(settings, clips, reporter)
    roles = {"primary": None, "secondary": judges.get("secondary")} if request.staged else judges
    wanted = requested_fingerprints(roles, engines, settings.thresholds, checks, speaker is not None, mos)
    work = plan_work(clips, stored, wanted, engines, force=request.force)
    rejudged = _rejudge(work, clips, stored, Rules(settings.thresholds, checks), engines, sink, reporter)
    first_role = "secondary" if engines == EngineMode.secondary else "primary"
    to_transcribe = sum(1 for c in work.todo if c.labeled and c.file_hash not in work.known[first_role])
    if work.current:
        reporter.note(f"{len(work.current)} clip(s) already validated with these engines and rules: skipped")
    if to_transcribe != len(clips):  # fewer clips to transcribe: maybe fewer worker processes
        settings, judges, asr_workers = _asr_judges(request, settings, choices, to_transcribe)
    results_log = ResultsLog(settings.work_dir / "validations" / f"{request.dataset_name}.jsonl")
    ray = settings.runner == RunnerKind.ray
    if sink is not None:
        sink.fingerprints = wanted

    def on_result(result: ClipResult) -> None:
        results_log.append(result)
        if sink is not None and not ray:  # with Ray the workers write the store
            sink.write_validation([result])

    run_store, run_id = (sink.store, sink.run_id) if sink is not None else (None, None)
    with guarded_run(run_store, run_id), open_runner(settings, 1) as runner:
        try:
            report = run_validation(
                work.todo,
                primary=judges.get("primary"),
                secondary=judges.get("secondary"),
                engines=engines,
                mode=request.mode,
                thresholds=settings.thresholds,
                on_result=on_result,
                reporter=reporter,
                mos=mos,
                runner=runner if ray else None,
                asr_runner=LocalRunner(asr_workers) if asr_workers > 1 else None,
                worker_sink=sink if ray else None,
                gpus=settings.gpus_per_worker,
                speaker=speaker,
                checks=checks,
                known=work.known,
                fingerprints=wanted,  # also in the results log: `db sync` stores the transcripts
                known_fingerprints=work.known_prints,
                on_transcript=_transcript_writer(sink),
                mos_keys=[c.file_hash for c in found],
            ) if work.todo else ValidateReport()  # fmt: skip
        except runner_errors() as exc:
            raise JobError(str(exc)) from exc
        except ValueError as exc:  # a clip with no stored words for an engine this run does not build
            raise JobError(str(exc)) from exc
    report.skipped = len(work.current)
    report.rejudged = len(rejudged)
    report.results.extend(rejudged)
    if sink is not None:
        sink.finish(report)
    report.engines = engine_names
    report.database = (
        DatabaseOutcome(attempted=True, rows=sink.rows, error=sink.error) if sink else DatabaseOutcome(False)
    )
    return report
