"""``pipeline validate`` and ``pipeline run`` (generate, then validate)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.commands.common import (
    console,
    fail,
    open_runner,
    out,
    runner_errors,
    safe_dataset,
    settings_with,
    setup_logging,
    start_run_or_warn,
)
from pipeline.lifecycle import guarded_run
from pipeline.names import dataset_name_from
from pipeline.runner import LocalRunner

ENGINE_MODES = ("primary", "secondary", "both", "cascade")


# Whisper engines are small and scale poorly over threads: with enough clips, one
# single-threaded engine per core in worker processes beats one engine with every thread
# (measured: BENCHMARKS.md, validate local vs Ray). Production engines (multi-GB) and GPUs keep
# one in-process copy.
PARALLEL_ASR_ENGINES = ("whisper", "whisper-tiny")
MIN_CLIPS_PER_ASR_WORKER = 4  # below this, spawning workers costs more than it saves


def local_asr_workers(settings, mode: str, n_clips: int, engines: list[str]) -> int:
    """Worker processes for the transcription stages of a local batch-mode run (1 = in process)."""
    if settings.runner == "ray" or mode != "batch" or settings.asr_device not in ("auto", "cpu"):
        return 1
    if not engines or any(name not in PARALLEL_ASR_ENGINES for name in engines):
        return 1
    if settings.asr_device == "auto":
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return 1
    workers = settings.workers or os.cpu_count() or 1
    return max(1, min(workers, n_clips // MIN_CLIPS_PER_ASR_WORKER))


def validate_dataset(
    source: Path,
    settings,
    *,
    dataset: str,
    engines: str,
    mode: str,
    db: bool,
    audio_column: str = "audio",
    text_column: str = "text",
) -> None:
    """Shared by ``validate`` and ``run``."""
    from judges.mos import build_mos_judges
    from judges.registry import build_asr, resolve_engine
    from pipeline.quality import MOSPlan
    from pipeline.sources import discover
    from pipeline.validate import ResultsLog, run_validation
    from verdicts import Thresholds

    if engines not in ENGINE_MODES:
        fail(f"--engines {engines!r}: choose from {', '.join(ENGINE_MODES)}")
    if mode not in ("batch", "stream"):
        fail(f"--mode {mode!r}: choose batch or stream")
    if settings.runner == "ray" and mode != "batch":
        fail("--runner ray maps one stage at a time over all clips: use --mode batch")
    try:
        clips, issues = discover(
            source,
            dataset,
            settings.work_dir / "validate_cache" / dataset,
            audio_column=audio_column,
            text_column=text_column,
        )
    except (OSError, ValueError) as exc:
        fail(str(exc))
    for issue in issues[:20]:
        console.print(f"[yellow]skipped:[/] {issue.path}: {issue.problem}")
    if not clips:
        fail(f"{source}: no audio clips found")

    try:
        choices = {
            "primary": resolve_engine(settings.asr_primary, "primary", settings),
            "secondary": resolve_engine(settings.asr_secondary, "secondary", settings),
        }
    except ValueError as exc:
        fail(str(exc))
    needed = {"primary": engines != "secondary", "secondary": engines != "primary"}
    asr_workers = local_asr_workers(settings, mode, len(clips), [c.name for r, c in choices.items() if needed[r]])
    if asr_workers > 1 and settings.asr_threads == 0:  # one single-threaded engine per core
        settings = settings.model_copy(update={"asr_threads": max(1, (os.cpu_count() or 1) // asr_workers)})
    judges = {}
    for role, choice in choices.items():
        if needed[role]:
            console.print(f"{role} engine: [bold]{choice.name}[/] ({choice.reason})")
            judges[role] = build_asr(choice.name, settings)
    thresholds = Thresholds(
        escalate_wer=settings.escalate_wer,
        escalate_confidence=settings.escalate_confidence,
        keep_min_mos=settings.keep_min_mos,
    )

    mos_judges, skipped = build_mos_judges(settings.mos_judges, settings) if settings.mos_mode != "none" else ([], {})
    for reason in skipped.values():
        console.print(f"[dim]MOS judge skipped: {reason}[/]")
    mos = MOSPlan(settings.mos_mode, settings.mos_sample_rate, settings.mos_seed, tuple(mos_judges), skipped)
    console.print(
        f"MOS: mode {settings.mos_mode}"
        + (f" (rate {settings.mos_sample_rate}, seed {settings.mos_seed})" if settings.mos_mode == "sample" else "")
        + f", judges {', '.join(j.info.name for j in mos_judges) or 'none'}"
    )

    sink = _open_store(settings, dataset, engines, mode, choices) if db else None
    results_log = ResultsLog(settings.work_dir / "validations" / f"{dataset}.jsonl")

    ray = settings.runner == "ray"

    def on_result(result) -> None:
        results_log.append(result)
        if sink is not None and not ray:  # with Ray the workers write the store
            sink.write_validation([result])

    columns = (
        TextColumn("[bold blue]validating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
    )
    run_store, run_id = (sink.store, sink.run_id) if sink is not None else (None, None)
    with (
        guarded_run(run_store, run_id),
        open_runner(settings, 1) as pool,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("validate", total=len(clips), stage="primary")

        def on_progress(stage: str) -> None:
            if stage == "first" or mode == "stream":
                if stage == "first":
                    progress.update(task, advance=1, stage=stage)
            else:
                progress.update(task, stage="secondary (escalated clips)")

        try:
            report = run_validation(
                clips,
                primary=judges.get("primary"),
                secondary=judges.get("secondary"),
                engines=engines,  # type: ignore[arg-type]
                mode=mode,  # type: ignore[arg-type]
                thresholds=thresholds,
                on_result=on_result,
                on_progress=on_progress,
                mos=mos,
                runner=pool if ray else None,
                asr_runner=LocalRunner(asr_workers) if asr_workers > 1 else None,
                worker_sink=sink if ray else None,
                gpus=settings.gpus_per_worker,
            )
        except runner_errors() as exc:
            fail(str(exc))
    if sink is not None:
        sink.finish(report)
    print_summary(report, sink)
    if sink is not None and sink.error is not None:
        fail(
            f"database writes failed ({sink.error}); every result is in {results_log.path}:"
            " run `pipeline db sync` when the database is back",
            code=1,
        )


def _open_store(settings, dataset, engines, mode, choices):
    from pipeline.store.store import ValidationSink

    args = {"engines": engines, "mode": mode, **{role: c.name for role, c in choices.items()}}
    store, run_id = start_run_or_warn(settings, "validate", args, dataset, "the validations log")
    return ValidationSink(store, run_id) if store is not None else None


def print_summary(report, sink) -> None:
    results = report.results
    n = len(results)
    judged = [r for r in results if r.verdicts is not None]
    kept = sum(1 for r in judged if r.verdicts.summary.keep)
    verdicts: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    for r in judged:
        verdicts.update({k: v for k, v in r.verdicts.summary.counts.items() if v})
        tiers[r.verdicts.summary.tier] += 1
    table = Table(title="validate summary", show_header=False)
    table.add_row("files", f"{n} ({len(judged)} judged, {n - len(judged)} errors)")
    table.add_row("audio", f"{report.audio_s:.1f} s ({report.audio_s / 3600:.3f} h)")
    table.add_row("wall time", f"{report.wall_s:.1f} s ({report.audio_s / max(report.wall_s, 1e-9):.2f}x real time)")
    for engine, ms in report.engine_ms.items():
        table.add_row(f"engine {engine}", f"{ms / 1000:.1f} s")
    table.add_row("escalated", str(sum(1 for r in results if r.escalated)))
    table.add_row("pass rate (keep)", f"{kept}/{len(judged)} = {kept / max(len(judged), 1):.1%}")
    table.add_row("verdicts", ", ".join(f"{k} {v}" for k, v in verdicts.most_common()))
    table.add_row("tiers", ", ".join(f"{k} {v}" for k, v in sorted(tiers.items())))
    scored = [r.mos for r in results if r.mos]
    if scored:
        keys = sorted(
            {k for m in scored for k in m if k.startswith("mos_") and k not in ("mos_judges", "mos_seed", "mos_ms")}
        )
        means = []
        for k in [*keys, "composite_mos"]:
            vals = [m[k] for m in scored if m.get(k) is not None]
            if vals:
                means.append(f"{k.removeprefix('mos_')} {sum(vals) / len(vals):.2f}")
        table.add_row("MOS (mean)", f"{len(scored)} clips scored: " + ", ".join(means))
    if sink is None:
        table.add_row("database", "not written: run `pipeline db sync` later")
    else:
        table.add_row(
            "database", f"{sink.rows} rows" + (f", then [red]DB writes failed[/]: {sink.error}" if sink.error else "")
        )
    out.print(table)
    worst = sorted(judged, key=lambda r: r.verdicts.summary.adjusted_wer, reverse=True)[:5]
    if worst and worst[0].verdicts.summary.adjusted_wer > 0:
        w = Table(title="worst files (adjusted WER)")
        for column in ("path", "adj. WER", "tts_failure", "label / primary"):
            w.add_column(column, overflow="fold")
        for r in worst:
            s = r.verdicts.summary
            heard = r.primary.text if r.primary is not None else (r.secondary.text if r.secondary else "")
            w.add_row(
                r.clip.path,
                f"{s.adjusted_wer:.3f}",
                str(s.counts.get("tts_failure", 0)),
                f"{(r.clip.text or '')[:80]}\n{heard[:80]}",
            )
        out.print(w)
    for r in results:
        if r.error:
            console.print(f"[red]error:[/] {r.clip.path}: {r.error}")


def validate(
    source: Annotated[Path, typer.Argument(help="Dataset dir, manifest.jsonl, wav+txt folder or HF dataset dir.")],
    dataset: Annotated[str | None, typer.Option(help="Dataset label for the rows (default: folder name).")] = None,
    engines: Annotated[str, typer.Option(help="primary | secondary | both | cascade")] = "cascade",
    mode: Annotated[str, typer.Option(help="batch (stage by stage) | stream (clip by clip)")] = "batch",
    primary: Annotated[str | None, typer.Option(help="Primary engine: auto|parakeet|qwen|whisper|whisper-tiny")] = None,
    mos_mode: Annotated[str | None, typer.Option(help="all | sample | flagged_only | passed_only | none")] = None,
    mos_sample_rate: Annotated[float | None, typer.Option(help="Fraction scored in sample mode (seeded).")] = None,
    secondary: Annotated[str | None, typer.Option(help="Secondary engine (same choices).")] = None,
    runner: Annotated[str | None, typer.Option(help="local (default) | ray (Ray Data actors).")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (default RAY_ADDRESS, else a local one).")
    ] = None,
    audio_column: Annotated[str, typer.Option(help="HF dataset audio column.")] = "audio",
    text_column: Annotated[str, typer.Option(help="HF dataset text column.")] = "text",
    db: Annotated[bool, typer.Option("--db/--no-db", help="Upsert rows into Postgres.")] = True,
    work_dir: Annotated[Path | None, typer.Option(help="Work dir (default ./work).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose")] = False,
) -> None:
    """Transcribe every clip, give every label word a verdict, store one row per clip."""
    setup_logging(verbose)
    settings = settings_with(
        asr_primary=primary,
        asr_secondary=secondary,
        work_dir=work_dir,
        mos_mode=mos_mode,
        mos_sample_rate=mos_sample_rate,
        runner=runner,
        ray_address=ray_address,
    )
    name = (
        safe_dataset(dataset)
        if dataset is not None
        else dataset_name_from(source.parent.name if source.is_file() else source.resolve().name)
    )
    validate_dataset(
        source,
        settings,
        dataset=name,
        engines=engines,
        mode=mode,
        db=db,
        audio_column=audio_column,
        text_column=text_column,
    )


def run(
    ctx: typer.Context,
    book: Annotated[Path, typer.Option("--book", "-b", help="Plain-text book.")],
    voice: Annotated[list[str] | None, typer.Option("--voice", "-v", help="Voice(s).")] = None,
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "main",
    chapters: Annotated[str | None, typer.Option(help="Chapters: 1 | 1-3 | all.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N chunks.")] = None,
    engines: Annotated[str, typer.Option(help="primary | secondary | both | cascade")] = "cascade",
    mode: Annotated[str, typer.Option(help="batch | stream")] = "batch",
    db: Annotated[bool, typer.Option("--db/--no-db")] = True,
    work_dir: Annotated[Path | None, typer.Option(help="Work dir (default ./work).")] = None,
    runner: Annotated[str | None, typer.Option(help="local (default) | ray (Ray Data actors).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join (default RAY_ADDRESS).")] = None,
) -> None:
    """Generate a book's dataset, then validate it: the whole mission in one command."""
    from pipeline.commands.generate import generate

    ctx.invoke(
        generate,
        book=book,
        voice=voice,
        dataset=dataset,
        chapters=chapters,
        limit=limit,
        db=db,
        work_dir=work_dir,
        runner=runner,
        ray_address=ray_address,
    )
    settings = settings_with(work_dir=work_dir, runner=runner, ray_address=ray_address)
    validate_dataset(settings.datasets_dir / dataset, settings, dataset=dataset, engines=engines, mode=mode, db=db)
