"""``pipeline validate`` and ``pipeline run`` (generate, then validate) over ``pipeline.jobs``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.choices import EngineMode, Only, RunMode
from pipeline.commands import heal as heal_opts
from pipeline.commands import options as opt
from pipeline.commands.common import console, fail, out, settings_with, setup_logging, user_errors
from pipeline.commands.generate import generate_settings, print_generate_summary
from pipeline.commands.progress import RichReporter, reporter_for
from pipeline.jobs import GenerateRequest, ValidateReport, ValidateRequest
from pipeline.jobs import generate as generate_job
from pipeline.jobs import validate as validate_job
from pipeline.jobs.scans import MosRequest, ReverdictRequest, ScanReport
from pipeline.jobs.scans import reverdict as reverdict_job
from pipeline.jobs.scans import score_mos as score_mos_job
from pipeline.keep import clip_decision
from pipeline.settings import Settings
from pipeline.store.scans import ClipSelection


def validate(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="Dataset dir, manifest.jsonl, wav+txt folder or HF dataset dir (default: the generated dataset"
            " --dataset names; --reverdict needs none)."
        ),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset label for the rows (default: folder name).")] = None,
    engines: opt.Engines = EngineMode.cascade,
    mode: opt.Mode = RunMode.batch,
    primary: opt.PrimaryEngine = None,
    secondary: opt.SecondaryEngine = None,
    mos_mode: opt.MosModeOpt = None,
    mos_sample_rate: opt.MosSampleRate = None,
    runner: opt.Runner = None,
    ray_address: opt.RayAddress = None,
    audio_column: opt.AudioColumn = "audio",
    text_column: opt.TextColumn = "text",
    tier_wer: opt.TierWer = None,
    tier_confidence: opt.TierConfidence = None,
    db: opt.Db = True,
    only: opt.OnlyOpt = Only.all,
    limit: opt.ScanLimit = None,
    voice: opt.ScanVoice = None,
    book: opt.ScanBook = None,
    force: opt.Force = False,
    reverdict: opt.Reverdict = False,
    mos_only: opt.MosOnly = False,
    progress: opt.ProgressOpt = "bar",
    work_dir: opt.WorkDir = None,
    verbose: opt.Verbose = False,
) -> None:
    """Transcribe every clip, give every label word a verdict, store one row per clip.

    Reruns skip clips whose stored results match (--force redoes them) and reuse stored
    transcripts; --reverdict and --mos-only scan the stored clips instead."""
    setup_logging(verbose)
    settings = settings_with(
        asr_primary=primary, asr_secondary=secondary, mos_mode=mos_mode, mos_sample_rate=mos_sample_rate,
        work_dir=work_dir, runner=runner, ray_address=ray_address, **opt.tier_overrides(tier_wer, tier_confidence),
    )  # fmt: skip
    selection = ClipSelection(only=only, limit=limit, voice=voice, book=book)
    reporter = reporter_for(progress)
    if reverdict and mos_only:
        raise typer.BadParameter("--reverdict and --mos-only are separate scans: choose one")
    if reverdict or mos_only:
        if not db:
            raise typer.BadParameter("--reverdict and --mos-only read and write the database: drop --no-db")
        with user_errors():
            if reverdict:
                if source is not None:
                    raise typer.BadParameter("--reverdict reads the stored transcripts: give --dataset, not a source")
                scan = reverdict_job(ReverdictRequest(dataset, selection), settings, reporter)
            else:
                mos_request = MosRequest(source, dataset, selection, audio_column, text_column)
                scan = score_mos_job(mos_request, settings, reporter)
        print_scan_summary(scan)
        return
    request = ValidateRequest(
        source, dataset, engines, mode, db, audio_column, text_column, selection=selection, force=force
    )
    with user_errors():
        report = validate_job(request, settings, reporter)
    print_validate_summary(report)
    fail_on_database_error(report, settings, request.dataset_name)


def print_scan_summary(report: ScanReport) -> None:
    """The summary of ``--reverdict`` or ``--mos-only``."""
    table = Table(title=f"{report.command} summary", show_header=False)
    if report.command == "reverdict":
        written = report.files - report.unchanged
        files = f"{report.files} judged: {written} written, {report.unchanged} unchanged (rows as stored)"
        table.add_row("files", f"{files}, {report.skipped} with nothing to do")
    else:
        table.add_row("files", f"{report.files} written, {report.skipped} with nothing to do")
    table.add_row("audio", f"{report.audio_s:.1f} s ({report.audio_s / 3600:.3f} h)")
    speed = report.audio_s / max(report.wall_s, 1e-9)
    table.add_row("wall time", f"{report.wall_s:.1f} s ({report.rate:.0f} clips/s, {speed:.0f}x real time)")
    if report.command == "mos":
        table.add_row("judges", ", ".join(report.judges))
        table.add_row("scored", str(report.scored))
    table.add_row("kept", f"{report.kept}/{report.files}" if report.command == "reverdict" else "-")
    table.add_row("keep decisions changed", str(report.changed))
    if report.command == "reverdict":
        table.add_row(
            "would escalate now",
            f"{report.would_escalate} (no secondary words: `validate --engines secondary --only escalated` adds them)",
        )
    out.print(table)


def fail_on_database_error(report: ValidateReport, settings: Settings, dataset: str) -> None:
    """Exit 1 when database writes failed mid-run (everything is in the validations log)."""
    if report.database.error:
        log = settings.work_dir / "validations" / f"{dataset}.jsonl"
        fail(
            f"database writes failed ({report.database.error}); every result is in {log}:"
            " run `pipeline db sync` when the database is back",
            1,
        )


def run(
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
    combine: opt.Combine = False,
    engines: opt.Engines = EngineMode.cascade,
    mode: opt.Mode = RunMode.batch,
    primary: opt.PrimaryEngine = None,
    secondary: opt.SecondaryEngine = None,
    mos_mode: opt.MosModeOpt = None,
    mos_sample_rate: opt.MosSampleRate = None,
    runner: opt.Runner = None,
    ray_address: opt.RayAddress = None,
    db: opt.Db = True,
    heal: Annotated[
        bool, typer.Option(help="Then heal: re-synthesize the chunks not kept (see `pipeline heal`).")
    ] = False,
    max_attempts: heal_opts.MaxAttempts = heal_opts.DEFAULT_MAX_ATTEMPTS,
    lexicon: heal_opts.Lexicon = None,
    work_dir: opt.WorkDir = None,
    verbose: opt.Verbose = False,
) -> None:
    """Generate a book's dataset, then validate it (and with --heal, heal it): the whole mission in one command."""
    setup_logging(verbose)
    settings = generate_settings(
        voice=voice, speed=speed, seed=seed, backend=backend, workers=workers, threads=threads,
        batch_size=batch_size, synthesis_batch=synthesis_batch, target_seconds=target_seconds, headings=headings,
        keep_caps=keep_caps,
        asr_primary=primary, asr_secondary=secondary, mos_mode=mos_mode, mos_sample_rate=mos_sample_rate,
        work_dir=work_dir, runner=runner, ray_address=ray_address,
    )  # fmt: skip
    generated = GenerateRequest(book=book, dataset=dataset, chapters=chapters, limit=limit, combine=combine, db=db)
    with user_errors():
        report = generate_job(generated, settings, RichReporter())
        print_generate_summary(report)
        request = ValidateRequest(settings.datasets_dir / dataset, dataset, engines, mode, db)
        validated = validate_job(request, settings, RichReporter())
        print_validate_summary(validated)
    if report.failures:
        raise typer.Exit(1)
    fail_on_database_error(validated, settings, dataset)
    if heal:
        healing = heal_opts.heal_request(dataset, None, max_attempts, 0.08, lexicon, engines, mode, combine)
        with user_errors():
            healed = heal_opts.heal_job(healing, settings, RichReporter())
        heal_opts.print_heal_summary(healed)


def _summary_table(report: ValidateReport) -> Table:
    results = report.results
    judged = [r for r in results if r.verdicts is not None]
    decisions = [d for d in map(clip_decision, judged) if d is not None]
    kept = sum(1 for d in decisions if d.keep)
    verdicts: Counter[str] = Counter()
    for r in judged:
        verdicts.update({k: v for k, v in r.verdicts.summary.counts.items() if v})
    tiers = Counter(d.tier for d in decisions)
    reasons = Counter(reason for d in decisions for reason in d.reasons)
    table = Table(title="validate summary", show_header=False)
    unlabeled = sum(1 for r in results if not r.clip.labeled)
    errors = len(results) - len(judged) - unlabeled
    table.add_row("files", f"{len(results)} ({len(judged)} judged, {unlabeled} unlabeled, {errors} errors)")
    table.add_row("skipped (stored results up to date)", str(report.skipped))
    table.add_row("judged again (only the rules changed)", str(report.rejudged))
    transcribed = ", ".join(f"{engine} {n}" for engine, n in report.transcribed.items()) or "none"
    reused = ", ".join(f"{engine} {n}" for engine, n in report.reused.items()) or "none"
    table.add_row("transcribed / reused", f"{transcribed} / {reused}")
    table.add_row("audio", f"{report.audio_s:.1f} s ({report.audio_s / 3600:.3f} h)")
    table.add_row("wall time", f"{report.wall_s:.1f} s ({report.audio_s / max(report.wall_s, 1e-9):.2f}x real time)")
    for engine, ms in report.engine_ms.items():
        table.add_row(f"engine {engine}", f"{ms / 1000:.1f} s")
    table.add_row("escalated", str(sum(1 for r in results if r.escalated)))
    table.add_row("pass rate (keep)", f"{kept}/{len(judged)} = {kept / max(len(judged), 1):.1%}")
    table.add_row("verdicts", ", ".join(f"{k} {v}" for k, v in verdicts.most_common()))
    table.add_row("tiers", ", ".join(f"{k} {v}" for k, v in sorted(tiers.items())))
    table.add_row("reject reasons (clips)", ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "none")
    mos = _mos_means(report)
    if mos:
        table.add_row("MOS (mean)", mos)
    db = report.database
    if not db.attempted:
        table.add_row("database", "not written: run `pipeline db sync` later")
    else:
        failed = f", then [red]DB writes failed[/]: {db.error}" if db.error else ""
        table.add_row("database", f"{db.rows} rows{failed}")
    return table


def _mos_means(report: ValidateReport) -> str:
    scored = [r.mos for r in report.results if r.mos]
    if not scored:
        return ""
    skip = ("mos_judges", "mos_seed", "mos_ms")
    keys = sorted({k for m in scored for k in m if k.startswith("mos_") and k not in skip})
    means = []
    for k in [*keys, "composite_mos"]:
        vals = [m[k] for m in scored if m.get(k) is not None]
        if vals:
            means.append(f"{k.removeprefix('mos_')} {sum(vals) / len(vals):.2f}")
    return f"{len(scored)} clips scored: " + ", ".join(means)


def _worst_table(report: ValidateReport) -> Table | None:
    judged = [r for r in report.results if r.verdicts is not None]
    worst = sorted(judged, key=lambda r: r.verdicts.summary.adjusted_wer, reverse=True)[:5]
    if not worst or worst[0].verdicts.summary.adjusted_wer <= 0:
        return None
    table = Table(title="worst files (adjusted WER)")
    for column in ("path", "adj. WER", "tts_failure", "label / primary"):
        table.add_column(column, overflow="fold")
    for r in worst:
        s = r.verdicts.summary
        heard = r.primary.text if r.primary is not None else (r.secondary.text if r.secondary else "")
        table.add_row(
            r.clip.path,
            f"{s.adjusted_wer:.3f}",
            str(s.counts.get("tts_failure", 0)),
            f"{(r.clip.text or '')[:80]}\n{heard[:80]}",
        )
    return table


def print_validate_summary(report: ValidateReport) -> None:
    out.print(_summary_table(report))
    worst = _worst_table(report)
    if worst is not None:
        out.print(worst)
    for r in report.results:
        if r.error:
            console.print(f"[red]error:[/] {r.clip.path}: {r.error}")
