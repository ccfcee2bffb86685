"""``generate`` as a library call: a book -> chunks -> the synthesize stage on a runner -> wavs,
``manifest.jsonl`` and rows. The CLI, ``run`` and tests call ``generate(request, settings)``.

Every clip has a content id, so a rerun skips clips whose id is in the manifest with its wav on
disk: the job is idempotent and resumes after a crash (the manifest is appended as each batch
finishes, before the store is written).

Example::

    from pipeline.jobs import GenerateRequest, generate
    report = generate(GenerateRequest(book=Path("data/books/alice.txt"), chapters="1"), get_settings())
    print(report.x_real_time, report.database)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from pipeline.choices import RunnerKind, TTSBackendName
from pipeline.chunking import ChunkSummary
from pipeline.files import atomic_path, remove_stale_temporaries
from pipeline.ingest import Book
from pipeline.jobs.errors import JobError
from pipeline.jobs.plumbing import open_runner, runner_errors, start_run_or_warn
from pipeline.jobs.reporting import LogReporter, Reporter
from pipeline.lifecycle import guarded_run
from pipeline.manifest import Manifest
from pipeline.names import check_dataset_name
from pipeline.records import AudioRecord, Chunk
from pipeline.runner import Runner
from pipeline.settings import Settings
from pipeline.stages.base import ItemFailure, Resources
from pipeline.stages.synthesize import SynthesisJob, SynthesizeStage, pending_jobs, plan_jobs
from pipeline.tts.backend import SAMPLE_RATE
from pipeline.tts.g2p_audit import counts as flag_counts

CHUNK_GAP_S = 0.35  # silence between chunks in the combined book wav


class GenerationSink(Protocol):
    """Where finished clips go besides the manifest (the Postgres store plugs in here)."""

    def write_generation(self, records: Sequence[AudioRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class DatabaseOutcome:
    """What a job wrote to Postgres: ``attempted`` False = not asked (--no-db) or unreachable at
    the start; ``error`` set = it went away during the run (the local copies hold everything)."""

    attempted: bool
    rows: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.attempted and self.error is None


@dataclass
class GenerateReport:
    """What a generate run did. The run-level fields are filled by ``generate``; ``run_generation``
    alone fills the counts."""

    planned: int = 0
    skipped: int = 0
    written: list[AudioRecord] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    wall_s: float = 0.0
    book_title: str = ""
    chunks: ChunkSummary | None = None
    dataset_dir: Path | None = None
    engine: str = ""
    workers: str = ""
    database: DatabaseOutcome = DatabaseOutcome(attempted=False)
    combined: list[tuple[Path, int, float]] = field(default_factory=list)  # (wav, clips, seconds)
    # G2P audit findings over the selected chunks: rule id (fixed ones as "<rule>.fixed") -> count
    g2p_flags: dict[str, int] = field(default_factory=dict)

    @property
    def audio_s(self) -> float:
        return sum(r.duration_s for r in self.written)

    @property
    def x_real_time(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else 0.0


class WorkerGenerationWriter:
    """The store write of ``run_generation`` when the runner writes from its workers (Ray): runs
    in the actor after each batch, writes the batch's records to (a copy of) each sink, and
    returns ``(rows, error)`` per sink for the driver's sinks to ``absorb``. Sinks must pickle
    and count (``rows``, ``error``), as ``ResilientSink`` does."""

    def __init__(self, sinks: Sequence[GenerationSink]) -> None:
        self.sinks = tuple(sinks)

    def __call__(self, items: Sequence[SynthesisJob], results: Sequence[AudioRecord | ItemFailure]) -> list:
        records = [r for r in results if isinstance(r, AudioRecord)]
        report = []
        for sink in self.sinks:
            before = sink.rows
            sink.write_generation(records)
            report.append((sink.rows - before, sink.error))
        return report


def batched(items: Sequence[SynthesisJob], size: int) -> Iterator[list[SynthesisJob]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_generation(
    stage: SynthesizeStage,
    jobs: Sequence[SynthesisJob],
    manifest: Manifest,
    *,
    runner: Runner,
    batch_size: int,
    sinks: Sequence[GenerationSink] = (),
    on_batch: Callable[[list[AudioRecord], list[ItemFailure]], None] | None = None,
    reporter: Reporter | None = None,
) -> GenerateReport:
    """Synthesize the pending ``jobs``; each finished batch goes to the manifest, then the sinks.

    With a runner that ``writes_in_workers`` (Ray), each worker writes its batch to the sinks
    itself (``WorkerGenerationWriter``) and the driver's sinks only absorb the counts."""
    report = GenerateReport(planned=len(jobs))
    todo = stage.arrange(pending_jobs(jobs, stage.dataset_dir, manifest))
    report.skipped = len(jobs) - len(todo)
    if sinks and report.skipped:
        # Clips finished earlier are upserted again (idempotent): a run killed between its
        # manifest append and its database write must not leave them out of the store.
        pending = {job.wav_path for job in todo}
        planned = {job.wav_path for job in jobs}
        done = [r for r in manifest.records() if r.wav_path in planned and r.wav_path not in pending]
        for sink in sinks:
            sink.write_generation(done)
    reporter = reporter or LogReporter()
    reporter.start("synthesize", len(todo), sum(job.chunk.est_seconds for job in todo))
    started = time.perf_counter()
    in_workers = bool(sinks) and getattr(runner, "writes_in_workers", False)
    extra = {}
    if in_workers:

        def absorb(per_sink: list) -> None:
            for sink, (rows, error) in zip(sinks, per_sink, strict=True):
                sink.absorb(rows, error)

        extra = {"worker_hook": WorkerGenerationWriter(sinks), "on_report": absorb}
    for _, results in runner.map_batches(stage, batched(todo, batch_size), **extra):
        records = [r for r in results if isinstance(r, AudioRecord)]
        failures = [r for r in results if isinstance(r, ItemFailure)]
        manifest.append(records)
        if not in_workers:
            for sink in sinks:
                sink.write_generation(records)
        report.written.extend(records)
        report.failures.extend(failures)
        report.wall_s = time.perf_counter() - started
        reporter.advance("synthesize", len(records) + len(failures), sum(r.duration_s for r in records))
        if on_batch:
            on_batch(records, failures)
    report.wall_s = time.perf_counter() - started
    reporter.finish("synthesize")
    return report


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """One ``generate`` call. Model, voice, speed and execution knobs come from ``Settings``."""

    book: Path
    dataset: str = "main"
    chapters: str | None = None  # "1" | "1-3" | "1,4,7-9" | "all" (None = all)
    limit: int | None = None  # only the first N chunks
    combine: bool = False  # also one combined wav per voice
    db: bool = True  # upsert rows into Postgres


def parse_chapters(spec: str | None) -> set[int] | None:
    """``"1"``, ``"1-3"``, ``"1,4,7-9"``; None or ``"all"`` = every chapter."""
    if spec is None or spec.strip().lower() == "all":
        return None
    chapters: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                if low > high:
                    raise ValueError
                chapters.update(range(low, high + 1))
            else:
                chapters.add(int(part))
        except ValueError:
            raise JobError(f"--chapters {spec!r}: expected numbers and ranges like 1,3-5") from None
    return chapters


def g2p_auditor(settings: Settings, g2p):
    """The G2P audit as ``settings`` ask for it, set up."""
    from pipeline.tts.g2p_audit import G2PAuditor

    auditor = G2PAuditor(
        g2p,
        keep_caps=settings.keep_caps,
        second_opinion=settings.g2p_second_opinion,
        foreign_readings=settings.foreign_g2p,
    )
    auditor.setup()
    return auditor


def chunk_for_generation(request: GenerateRequest, settings: Settings, reporter: Reporter) -> tuple[Book, list[Chunk]]:
    """Read the book and cut the selected chapters into chunks (G2P loaded here, once)."""
    from pipeline.chunking import chunk_book
    from pipeline.ingest import BookError, read_book
    from pipeline.tts.g2p import G2P

    chapters = parse_chapters(request.chapters)
    try:
        book = read_book(request.book)
    except (BookError, OSError) as exc:
        raise JobError(str(exc)) from exc
    for warning in book.warnings:
        reporter.note(warning, "warning")
    g2p = G2P(settings.lang_code)
    auditor = g2p_auditor(settings, g2p)
    chunks = chunk_book(
        book,
        g2p,
        target_seconds=settings.target_seconds,
        target_words=settings.target_words,
        max_phonemes=settings.max_phonemes,
        phonemes_per_second=settings.phonemes_per_second / settings.speed,
        headings=settings.headings,
        chapters=chapters,
        auditor=auditor,
    )
    if not chunks:
        raise JobError(f"{request.book}: nothing to synthesize (no text in the selected chapters)")
    return book, chunks[: request.limit] if request.limit else chunks


def accented_chunks(
    chunks: Sequence[Chunk], resolved: Sequence[tuple[str, Any]], settings: Settings, reporter: Reporter
) -> dict[str, tuple[str, list[Chunk]]]:
    """Voice spec -> (its English accent, ``chunks`` phonemized again in it) for every voice whose
    accent is not the one the book was chunked in (``settings.lang_code``; ``g2p_by_voice``):
    ``bf_emma`` reads British phonemes beside an American voice. Same labels and boundaries, the
    same G2P audit; a chunk the other accent cannot phonemize within Kokoro's limit keeps the
    book's phonemes (with a warning)."""
    from pipeline.heal.rechunk import RechunkError, chunk_for_label
    from pipeline.tts.g2p import G2P
    from pipeline.tts.voices import g2p_lang

    out: dict[str, tuple[str, list[Chunk]]] = {}
    per_accent: dict[str, list[Chunk]] = {}
    for spec, voice in resolved:
        accent = g2p_lang(voice.components, settings.lang_code, settings.g2p_by_voice)
        if accent == settings.lang_code:
            continue
        if accent not in per_accent:
            g2p = G2P(accent)
            auditor = g2p_auditor(settings, g2p)
            again = []
            rate = settings.phonemes_per_second / settings.speed
            for chunk in chunks:
                try:
                    again.append(chunk_for_label(chunk, chunk.text, g2p, auditor, phonemes_per_second=rate))
                except RechunkError as exc:
                    reporter.note(f"chunk {chunk.index} keeps the book's phonemes for {spec}: {exc}", "warning")
                    again.append(chunk)
            per_accent[accent] = again
        out[spec] = (accent, per_accent[accent])
    return out


def combine_book(records: list[AudioRecord], dataset_dir: Path, target: Path) -> float:
    """Concatenate a voice's clips in book order with a short gap; returns seconds written."""
    gap = np.zeros(int(CHUNK_GAP_S * SAMPLE_RATE), dtype=np.int16)
    pieces = []
    for record in sorted(records, key=lambda r: r.chunk_index):
        audio, _ = sf.read(dataset_dir / record.wav_path, dtype="int16")
        pieces.extend([audio, gap])
    data = np.concatenate(pieces) if pieces else gap
    with atomic_path(target) as tmp:
        sf.write(tmp, data, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(data) / SAMPLE_RATE


def synthesize_stage(settings: Settings, resolved, dataset_dir: Path) -> SynthesizeStage:
    from pipeline.tts.engine import build_engine

    return SynthesizeStage(
        build_engine(settings),
        {r.canonical: r for _, r in resolved},
        dataset_dir,
        Resources(cpus=settings.threads_per_worker, gpus=settings.gpus_per_worker, batch_size=settings.batch_size),
        synthesis_batch=settings.synthesis_batch,
    )


def _plan(request: GenerateRequest, settings: Settings, chunks: list[Chunk], reporter: Reporter):
    """(settings adjusted for the plan, resolved voices, jobs)."""
    from pipeline.tts.engine import build_engine, engine_fingerprint
    from pipeline.tts.voices import VoiceError

    engine = build_engine(settings)
    try:
        resolved = [(spec, engine.resolve_voice(spec)) for spec in settings.voices]
    except VoiceError as exc:
        raise JobError(str(exc)) from exc
    try:
        fingerprint = engine_fingerprint(settings)
    except OSError as exc:
        raise JobError(f"cannot read the model weights: {exc}") from exc
    jobs = plan_jobs(
        chunks, resolved, dataset=request.dataset, speed=settings.speed, seed=settings.seed, fingerprint=fingerprint,
        accented=accented_chunks(chunks, resolved, settings, reporter),
    )  # fmt: skip
    if settings.synthesis_batch > settings.batch_size:  # a worker batch must hold a whole padded batch
        settings = settings.model_copy(update={"batch_size": settings.synthesis_batch})
    return settings, resolved, jobs


def _open_sink(request: GenerateRequest, settings: Settings, reporter: Reporter):
    """The store as a generation sink, or (None, None) with a warning when it is unreachable."""
    from pipeline.store.store import ResilientSink

    args = {
        "book": str(request.book),
        "chapters": request.chapters,
        "limit": request.limit,
        "voices": settings.voices,
        "speed": settings.speed,
        "backend": settings.tts_backend,
    }
    store, run_id = start_run_or_warn(settings, "generate", args, request.dataset, "the manifest", reporter)
    return (ResilientSink(store), run_id) if store is not None else (None, None)


def _finish_run(sink, run_id: int | None, report: GenerateReport, reporter: Reporter) -> None:
    """Close the run's row: ``ok``, or ``failed`` (clip failures, or database writes that failed
    mid-run); best effort, the database may still be gone."""
    from pipeline.store.connection import StoreUnavailable

    if sink is None or run_id is None:
        return
    error = f"database writes failed: {sink.error}" if sink.error else None
    try:
        sink.store.finish_run(
            run_id,
            status="failed" if report.failures or error else "ok",
            counts={
                "planned": report.planned,
                "skipped": report.skipped,
                "written": len(report.written),
                "failed": len(report.failures),
                "rows": sink.rows,
            },
            audio_s=report.audio_s,
            wall_s=report.wall_s,
            error=error,
        )
    except StoreUnavailable as exc:
        reporter.note(f"could not close run {run_id}: {exc}", "warning")


def _combine_voices(book: Book, resolved, manifest: Manifest, dataset_dir: Path) -> list[tuple[Path, int, float]]:
    from pipeline.tts.voices import voice_slug

    combined = []
    for spec, _ in resolved:
        folder = voice_slug(spec)
        # generate's own clips (heal's attempts are combined by `heal --combine`, from its selection)
        mine = [
            r
            for r in manifest.records()
            if r.wav_path.startswith(f"{book.book_id}/{folder}/") and r.attempt == 0 and not r.chunk_part
        ]
        target = dataset_dir / book.book_id / folder / f"{book.book_id}.wav"
        combined.append((target, len(mine), combine_book(mine, dataset_dir, target)))
    return combined


def generate(request: GenerateRequest, settings: Settings, reporter: Reporter | None = None) -> GenerateReport:
    """Chunk ``request.book`` and synthesize every pending (chunk, voice) into
    ``<work>/datasets/<dataset>/``; raises ``JobError`` for input it cannot use."""
    from pipeline.assets import AssetError, ensure_assets
    from pipeline.chunking import summarize

    reporter = reporter or LogReporter()
    try:
        check_dataset_name(request.dataset)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    try:
        ensure_assets(settings.cache_dir)
    except AssetError as exc:
        raise JobError(str(exc)) from exc
    book, chunks = chunk_for_generation(request, settings, reporter)
    summary = summarize(chunks)
    reporter.note(
        f"{book.title or book.book_id}: {summary.n_chunks} chunks, {summary.n_words} words, "
        f"~{summary.est_hours:.2f} h of speech per voice"
    )
    dataset_dir = settings.datasets_dir / request.dataset
    if dataset_dir.is_dir() and (stale := remove_stale_temporaries(dataset_dir)):
        reporter.note(f"removed {stale} half-written file(s) a killed run left in {dataset_dir}")
    settings, resolved, jobs = _plan(request, settings, chunks, reporter)
    if settings.synthesis_batch > 1 and settings.tts_backend != TTSBackendName.torch:
        reporter.note("--synthesis-batch batches the torch backend only; ONNX runs one at a time", "warning")
    n_workers = settings.workers or os.cpu_count() or 1
    n_workers = max(1, min(n_workers, -(-len(jobs) // settings.batch_size)))
    stage = synthesize_stage(settings, resolved, dataset_dir)
    manifest = Manifest.for_dataset(dataset_dir)
    sink, run_id = _open_sink(request, settings, reporter) if request.db else (None, None)
    with guarded_run(sink.store if sink else None, run_id), open_runner(settings, n_workers) as runner:
        try:
            report = run_generation(
                stage,
                jobs,
                manifest,
                runner=runner,
                batch_size=settings.batch_size,
                sinks=[sink] if sink else [],
                reporter=reporter,
            )
        except runner_errors() as exc:
            raise JobError(str(exc)) from exc
    _finish_run(sink, run_id, report, reporter)
    if request.combine:
        report.combined = _combine_voices(book, resolved, manifest, dataset_dir)
    report.book_title = book.title or book.book_id
    report.chunks = summary
    report.g2p_flags = dict(sorted(flag_counts(f for chunk in chunks for f in chunk.g2p_flags).items()))
    report.dataset_dir = dataset_dir
    report.engine = stage.engine.info.name
    report.workers = f"{n_workers} worker(s)" if settings.runner == RunnerKind.local else "ray actors"
    report.database = (
        DatabaseOutcome(attempted=True, rows=sink.rows, error=sink.error) if sink else DatabaseOutcome(False)
    )
    return report
