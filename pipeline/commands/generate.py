"""``pipeline generate``: a book becomes a dataset of Kokoro speech (``pipeline.jobs.generate``)."""

from __future__ import annotations

import typer
from rich.table import Table

from pipeline.commands import options as opt
from pipeline.commands.common import console, fail, out, settings_with, setup_logging, user_errors
from pipeline.commands.progress import RichReporter
from pipeline.jobs import GenerateReport, GenerateRequest
from pipeline.jobs import generate as generate_job
from pipeline.settings import Settings


def generate_settings(**flags) -> Settings:
    """Settings from the environment overridden by generate's flags (None = not given)."""
    voice = flags.pop("voice")
    return settings_with(
        voices=voice or None,
        tts_backend=flags.pop("backend"),
        threads_per_worker=flags.pop("threads"),
        **flags,
    )


def generate(
    book: opt.Book,
    voice: opt.Voices = None,
    dataset: opt.DatasetName = "main",
    chapters: opt.Chapters = None,
    limit: opt.Limit = None,
    speed: opt.Speed = None,
    seed: opt.Seed = None,
    backend: opt.Backend = None,
    workers: opt.Workers = None,
    threads: opt.Threads = None,
    batch_size: opt.BatchSize = None,
    synthesis_batch: opt.SynthesisBatch = None,
    target_seconds: opt.TargetSeconds = None,
    headings: opt.HeadingsOpt = None,
    keep_caps: opt.KeepCaps = None,
    runner: opt.Runner = None,
    ray_address: opt.RayAddress = None,
    combine: opt.Combine = False,
    db: opt.Db = True,
    work_dir: opt.WorkDir = None,
    verbose: opt.Verbose = False,
) -> None:
    """Chunk a book and synthesize every chunk with Kokoro-82M into <work>/datasets/<dataset>/."""
    setup_logging(verbose)
    settings = generate_settings(
        voice=voice, speed=speed, seed=seed, backend=backend, workers=workers, threads=threads,
        batch_size=batch_size, synthesis_batch=synthesis_batch, target_seconds=target_seconds,
        headings=headings, keep_caps=keep_caps, work_dir=work_dir, runner=runner, ray_address=ray_address,
    )  # fmt: skip
    request = GenerateRequest(book=book, dataset=dataset, chapters=chapters, limit=limit, combine=combine, db=db)
    with user_errors():
        report = generate_job(request, settings, RichReporter())
    print_generate_summary(report)
    if report.failures:
        raise typer.Exit(1)
    if report.database.error:
        error = report.database.error
        fail(f"database writes failed ({error}); every clip is in the manifest: run `pipeline db sync`", 1)


def print_generate_summary(report: GenerateReport) -> None:
    for target, clips, seconds in report.combined:
        console.print(f"combined {clips} clips into {target} ({seconds / 60:.1f} min)")
    table = Table(title="generate summary", show_header=False)
    table.add_row("dataset dir", str(report.dataset_dir))
    table.add_row("engine", f"{report.engine}, {report.workers}")
    table.add_row("chunks", str(report.chunks.n_chunks if report.chunks else 0))
    flags = ", ".join(f"{rule} {n}" for rule, n in report.g2p_flags.items()) or "nothing flagged"
    table.add_row("G2P audit (chunks)", flags)
    table.add_row("clips planned / skipped (done earlier)", f"{report.planned} / {report.skipped}")
    table.add_row("clips written / failed", f"{len(report.written)} / {len(report.failures)}")
    table.add_row("audio written", f"{report.audio_s:.1f} s ({report.audio_s / 3600:.3f} h)")
    table.add_row("wall time", f"{report.wall_s:.1f} s")
    table.add_row("throughput", f"{report.x_real_time:.2f} audio s per wall s")
    db = report.database
    if not db.attempted:
        table.add_row("database", "not written (--no-db or unreachable): run `pipeline db sync` later")
    elif db.error:
        table.add_row("database", f"[red]{db.rows} rows, then failed[/]: run `pipeline db sync` later")
    else:
        table.add_row("database", f"{db.rows} rows upserted into audio_quality")
    out.print(table)
    for failure in report.failures[:10]:
        console.print(f"[red]failed:[/] {failure.error}")
