"""``pipeline generate``: a book becomes a dataset of Kokoro speech."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import numpy as np
import soundfile as sf
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.commands.common import (
    console,
    fail,
    open_runner,
    out,
    runner_errors,
    settings_with,
    setup_logging,
    start_run_or_warn,
)
from pipeline.files import atomic_path
from pipeline.records import AudioRecord, Chunk
from pipeline.stage import Resources
from pipeline.tts.backend import SAMPLE_RATE

CHUNK_GAP_S = 0.35  # silence between chunks in the combined book wav


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
            fail(f"--chapters {spec!r}: expected numbers and ranges like 1,3-5")
    return chapters


def chunk_for_generation(book_path: Path, settings, chapters: set[int] | None, limit: int | None):
    from pipeline.chunking import chunk_book
    from pipeline.ingest import BookError, read_book
    from pipeline.tts.g2p import G2P

    try:
        book = read_book(book_path)
    except (BookError, OSError) as exc:
        fail(str(exc))
    for warning in book.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    g2p = G2P(settings.lang_code)
    with console.status("loading G2P and chunking ..."):
        g2p.setup()
        chunks = chunk_book(
            book,
            g2p,
            target_seconds=settings.target_seconds,
            target_words=settings.target_words,
            max_phonemes=settings.max_phonemes,
            phonemes_per_second=settings.phonemes_per_second / settings.speed,
            headings=settings.headings,
            chapters=chapters,
        )
    if not chunks:
        fail(f"{book_path}: nothing to synthesize (no text in the selected chapters)")
    return book, chunks[:limit] if limit else chunks


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


def generate(
    book: Annotated[Path, typer.Option("--book", "-b", help="Plain-text book (UTF-8, cp1252, latin-1).")],
    voice: Annotated[
        list[str] | None,
        typer.Option("--voice", "-v", help="Voice, alias, named blend or recipe (repeatable)."),
    ] = None,
    dataset: Annotated[str, typer.Option(help="Dataset name (folder under <work>/datasets).")] = "main",
    chapters: Annotated[str | None, typer.Option(help="Chapters to render: 1 | 1-3 | 1,4 | all.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Render only the first N chunks.")] = None,
    speed: Annotated[float | None, typer.Option(help="Speaking rate (1.0 = normal).")] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed (torch backend noise).")] = None,
    backend: Annotated[str | None, typer.Option(help="onnx (embedded default) | torch.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (0 = one per core).")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads per worker.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Chunks per worker batch.")] = None,
    synthesis_batch: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Torch backend: chunks per padded forward pass (1 = one at a time)."),
    ] = None,
    target_seconds: Annotated[float | None, typer.Option(help="Target chunk length in seconds.")] = None,
    headings: Annotated[str | None, typer.Option(help="own (own chunk) | drop.")] = None,
    runner: Annotated[str | None, typer.Option(help="local (default) | ray (Ray Data actors).")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (default RAY_ADDRESS, else a local one).")
    ] = None,
    combine: Annotated[bool, typer.Option(help="Also write one combined wav per voice.")] = False,
    db: Annotated[bool, typer.Option("--db/--no-db", help="Upsert rows into Postgres (default on).")] = True,
    work_dir: Annotated[Path | None, typer.Option(help="Work dir (default ./work).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose")] = False,
) -> None:
    """Chunk a book and synthesize every chunk with Kokoro-82M into <work>/datasets/<dataset>/."""
    setup_logging(verbose)
    settings = settings_with(
        voices=voice or None,
        speed=speed,
        seed=seed,
        tts_backend=backend,
        workers=workers,
        threads_per_worker=threads,
        batch_size=batch_size,
        synthesis_batch=synthesis_batch,
        target_seconds=target_seconds,
        headings=headings,
        work_dir=work_dir,
        runner=runner,
        ray_address=ray_address,
    )
    from pipeline.assets import AssetError, ensure_assets
    from pipeline.chunking import summarize
    from pipeline.generate import SynthesizeStage, plan_jobs
    from pipeline.manifest import Manifest
    from pipeline.tts.engine import build_engine, engine_fingerprint
    from pipeline.tts.voices import VoiceError

    try:
        ensure_assets(settings.cache_dir)
    except AssetError as exc:
        fail(str(exc))
    book_obj, chunks = chunk_for_generation(book, settings, parse_chapters(chapters), limit)
    summary = summarize(chunks)
    console.print(
        f"[bold]{book_obj.title or book_obj.book_id}[/]: {summary.n_chunks} chunks, {summary.n_words} words, "
        f"~{summary.est_hours:.2f} h of speech per voice"
    )

    engine = build_engine(settings)
    try:
        resolved = [(spec, engine.resolve_voice(spec)) for spec in settings.voices]
    except VoiceError as exc:
        fail(str(exc))
    dataset_dir = settings.datasets_dir / dataset
    try:
        fingerprint = engine_fingerprint(settings)
    except OSError as exc:
        fail(f"cannot read the model weights: {exc}")
    jobs = plan_jobs(
        chunks, resolved, dataset=dataset, speed=settings.speed, seed=settings.seed, fingerprint=fingerprint
    )
    if settings.synthesis_batch > settings.batch_size:  # a worker batch must hold a whole padded batch
        settings = settings.model_copy(update={"batch_size": settings.synthesis_batch})
    if settings.synthesis_batch > 1 and settings.tts_backend != "torch":
        console.print("[yellow]warning:[/] --synthesis-batch batches the torch backend only; ONNX runs one at a time")
    n_workers = settings.workers or os.cpu_count() or 1
    n_workers = max(1, min(n_workers, -(-len(jobs) // settings.batch_size)))
    stage = SynthesizeStage(
        engine,
        {r.canonical: r for _, r in resolved},
        dataset_dir,
        Resources(cpus=settings.threads_per_worker, gpus=settings.gpus_per_worker, batch_size=settings.batch_size),
        synthesis_batch=settings.synthesis_batch,
    )
    manifest = Manifest.for_dataset(dataset_dir)
    est_by_id = {job.id: job.chunk.est_seconds for job in jobs}
    sink, run_id = _open_sink(settings, dataset, book, chapters, limit) if db else (None, None)
    with open_runner(settings, n_workers) as pool:
        try:
            report = _run_with_progress(
                stage, jobs, manifest, pool, settings.batch_size, est_by_id, [sink] if sink else []
            )
        except runner_errors() as exc:
            fail(str(exc))
    if sink is not None and run_id is not None and sink.error is None:
        sink.store.finish_run(
            run_id,
            status="failed" if report.failures else "ok",
            counts={
                "planned": report.planned,
                "skipped": report.skipped,
                "written": len(report.written),
                "failed": len(report.failures),
                "rows": sink.rows,
            },
            audio_s=report.audio_s,
            wall_s=report.wall_s,
        )

    if combine:
        for spec, _ in resolved:
            from pipeline.tts.voices import voice_slug

            folder = voice_slug(spec)
            mine = [r for r in manifest.records() if r.wav_path.startswith(f"{book_obj.book_id}/{folder}/")]
            target = dataset_dir / book_obj.book_id / folder / f"{book_obj.book_id}.wav"
            seconds = combine_book(mine, dataset_dir, target)
            console.print(f"combined {len(mine)} clips into {target} ({seconds / 60:.1f} min)")

    workers_desc = f"{n_workers} worker(s)" if settings.runner == "local" else "ray actors"
    _print_summary(report, chunks, dataset_dir, workers_desc, stage.engine.info.name, sink)
    if report.failures:
        for failure in report.failures[:10]:
            console.print(f"[red]failed:[/] {failure.error}")
        raise typer.Exit(1)


def _open_sink(settings, dataset: str, book: Path, chapters: str | None, limit: int | None):
    """The store as a generation sink, or (None, None) with a warning when it is unreachable."""
    from pipeline.store.store import ResilientSink

    args = {
        "book": str(book),
        "chapters": chapters,
        "limit": limit,
        "voices": settings.voices,
        "speed": settings.speed,
        "backend": settings.tts_backend,
    }
    store, run_id = start_run_or_warn(settings, "generate", args, dataset, "the manifest")
    return (ResilientSink(store), run_id) if store is not None else (None, None)


def _run_with_progress(stage, jobs, manifest, runner, batch_size, est_by_id, sinks):
    from pipeline.generate import pending_jobs, run_generation

    todo = pending_jobs(jobs, stage.dataset_dir, manifest)
    est_total = sum(est_by_id[j.id] for j in todo)
    state = {"audio": 0.0, "est_done": 0.0}
    columns = (
        TextColumn("[bold blue]synthesizing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[audio]:.0f}/{task.fields[audio_total]:.0f} s audio"),
        TextColumn("{task.fields[xrt]:.2f}x real time"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("synthesize", total=len(todo), audio=0.0, audio_total=est_total, xrt=0.0, eta="?")

        def on_batch(records, failures):
            state["audio"] += sum(r.duration_s for r in records)
            state["est_done"] += sum(est_by_id[r.id] for r in records)
            elapsed = progress.tasks[0].elapsed or 1e-9
            rate = state["est_done"] / elapsed
            remaining = max(est_total - state["est_done"], 0.0)
            eta = f"{remaining / rate:.0f} s" if rate > 0 else "?"
            progress.update(
                task,
                advance=len(records) + len(failures),
                audio=state["audio"],
                xrt=state["audio"] / elapsed,
                eta=eta,
            )

        return run_generation(
            stage,
            jobs,
            manifest,
            runner=runner,
            batch_size=batch_size,
            sinks=sinks,
            on_batch=on_batch,
        )


def _print_summary(report, chunks: list[Chunk], dataset_dir: Path, workers: str, engine_name: str, sink) -> None:
    table = Table(title="generate summary", show_header=False)
    table.add_row("dataset dir", str(dataset_dir))
    table.add_row("engine", f"{engine_name}, {workers}")
    table.add_row("chunks", str(len(chunks)))
    table.add_row("clips planned / skipped (done earlier)", f"{report.planned} / {report.skipped}")
    table.add_row("clips written / failed", f"{len(report.written)} / {len(report.failures)}")
    table.add_row("audio written", f"{report.audio_s:.1f} s ({report.audio_s / 3600:.3f} h)")
    table.add_row("wall time", f"{report.wall_s:.1f} s")
    table.add_row("throughput", f"{report.x_real_time:.2f} audio s per wall s")
    if sink is None:
        table.add_row("database", "not written (--no-db or unreachable): run `pipeline db sync` later")
    elif sink.error:
        table.add_row("database", f"[red]{sink.rows} rows, then failed[/]: run `pipeline db sync` later")
    else:
        table.add_row("database", f"{sink.rows} rows upserted into audio_quality")
    out.print(table)
