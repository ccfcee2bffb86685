"""``pipeline export``: write the chosen clips of a dataset in a format trainers load as is
(hf, nemo, lhotse, ljspeech, jsonl), with a dataset card."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.commands import options as opt
from pipeline.commands.common import console, fail, out, settings_with, setup_logging
from pipeline.commands.db import open_store

SHOWN_SKIPS = 50
EXIT_SKIPPED = 1


def _split_columns(values: list[str] | None) -> list[str] | None:
    """``--column voice --column tier`` and ``--column voice,tier`` both work."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _duration(seconds: float) -> str:
    if seconds >= 360:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


@contextmanager
def _progress_bar():
    """A transient bar; yields the ``progress(done, total)`` callback for export_dataset."""
    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("export", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_report(report, dataset: str, skip_missing: bool) -> None:
    for skip in report.skipped[:SHOWN_SKIPS]:
        console.print(f"[yellow]skipped[/] {skip.file_hash[:12]}: {escape(skip.reason)}")
    if len(report.skipped) > SHOWN_SKIPS:
        console.print(f"[yellow]... and {len(report.skipped) - SHOWN_SKIPS} more (all in export.json)[/]")
    splits = ", ".join(f"{name} {n}" for name, n in report.splits.items())
    out.print(
        f"exported {report.rows} clips ({_duration(report.audio_s)}) of {escape(dataset)} as {report.fmt}"
        f" to {escape(str(report.out_dir))} ({splits})",
        soft_wrap=True,
    )
    if report.empty_splits:
        out.print(f"[yellow]no clips fell in: {', '.join(report.empty_splits)}[/]")
    if not report.skipped:
        out.print("skipped 0")
        return
    kinds = Counter(s.reason.split(":", 1)[0] for s in report.skipped)
    detail = ", ".join(f"{n} {escape(kind)}" for kind, n in kinds.most_common())
    out.print(f"skipped {len(report.skipped)} of {report.selected} selected: {detail}", soft_wrap=True)
    if not skip_missing:
        fail(f"{len(report.skipped)} selected clips were left out (listed above); pass --skip-missing to accept", 1)


def export(
    dataset: Annotated[str, typer.Option(help="Dataset name (the dataset column of audio_quality).")],
    where: Annotated[
        str | None,
        typer.Option(help="SQL filter over audio_quality, e.g. \"keep\", \"tier in ('strict','balanced')\"."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="hf | nemo | lhotse | ljspeech | jsonl.")] = "hf",
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default <work>/exports/<dataset>-<format>).")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", "-c", help="audio_quality column to include (repeatable, or comma-separated)."),
    ] = None,
    splits: Annotated[
        str | None, typer.Option(help="Seeded train[,validation],test shares, e.g. 0.9,0.05,0.05.")
    ] = None,
    split_by: Annotated[str, typer.Option(help="Keep together: sentence | chapter | voice.")] = "sentence",
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 0,
    sample_rate: Annotated[int | None, typer.Option(help="ljspeech: resample to this rate (default 22050).")] = None,
    combine: Annotated[
        bool, typer.Option(help="nemo: one wav per split, book and voice; lines carry offsets.")
    ] = False,
    licence: Annotated[str, typer.Option("--license", help="License id for the card (default: other).")] = "other",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export at --out.")] = False,
    skip_missing: Annotated[bool, typer.Option(help="Exit 0 even when selected wavs are missing.")] = False,
    verify_hash: Annotated[
        bool, typer.Option("--verify-hash/--no-verify-hash", help="Skip wavs whose sha256 differs from file_hash.")
    ] = True,
    timeout: Annotated[float, typer.Option(min=1.0, help="Statement timeout for the filter, seconds.")] = 60.0,
    rejects: Annotated[
        bool, typer.Option(help="Write the reject pile instead (--format csv | jsonl): chunks heal could not fix.")
    ] = False,
    work_dir: opt.WorkDir = None,
    verbose: opt.Verbose = False,
) -> None:
    """Export the clips that match --where (all by default) with their audio, splits and a dataset card."""
    setup_logging(verbose)
    from pipeline.export import FORMATS, SplitPlan, export_dataset
    from pipeline.store.connection import StoreUnavailable

    if rejects:
        _export_rejects(dataset, fmt, out_dir, work_dir)
        return

    if fmt not in FORMATS:
        fail(f"--format {escape(fmt)}: expected one of {', '.join(FORMATS)}")
    settings = settings_with(work_dir=work_dir)
    target = out_dir or settings.work_dir / "exports" / f"{dataset}-{fmt}"
    if split_by != "sentence" and not splits:
        fail("--split-by needs --splits (e.g. --splits 0.9,0.05,0.05)")
    try:
        plan = SplitPlan.parse(splits, split_by=split_by, seed=seed) if splits else None
        with _progress_bar() as progress:
            report = export_dataset(
                open_store(settings),
                dataset=dataset,
                where=where,
                out_dir=target,
                fmt=fmt,
                columns=_split_columns(column),
                datasets_dir=settings.datasets_dir,
                overwrite=overwrite,
                verify_hash=verify_hash,
                timeout_s=timeout,
                split_plan=plan,
                sample_rate=sample_rate,
                combine=combine,
                licence=licence,
                progress=progress,
            )
    except (ValueError, StoreUnavailable) as exc:
        fail(escape(str(exc)))
    except OSError as exc:
        fail(escape(f"cannot write the export to {target}: {exc}"))
    _print_report(report, dataset, skip_missing)


def _export_rejects(dataset: str, fmt: str, out_file: Path | None, work_dir: Path | None) -> None:
    """``--rejects``: the reject pile as CSV or JSON lines (pipeline.heal.rejects)."""
    from pipeline.heal.rejects import REJECT_FORMATS, reject_pile, write_rejects
    from pipeline.store.connection import StoreUnavailable

    if fmt not in REJECT_FORMATS:
        fail(f"--rejects --format {escape(fmt)}: expected {' or '.join(REJECT_FORMATS)}")
    settings = settings_with(work_dir=work_dir)
    target = out_file or settings.work_dir / "exports" / f"{dataset}-rejects.{fmt}"
    try:
        pile = reject_pile(open_store(settings), dataset)
        write_rejects(pile, target, fmt)
    except StoreUnavailable as exc:
        fail(escape(str(exc)))
    except OSError as exc:
        fail(escape(f"cannot write the reject pile to {target}: {exc}"))
    attempts = sum(r.attempts for r in pile)
    out.print(f"{len(pile)} rejected chunk(s) of {escape(dataset)} ({attempts} heal attempts) in {escape(str(target))}")
