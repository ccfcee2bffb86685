"""``pipeline export``: write the chosen clips of a dataset as a Hugging Face dataset or JSONL + wavs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.commands.common import console, fail, out, settings_with, setup_logging
from pipeline.commands.db import open_store

SHOWN_SKIPS = 5


def _split_columns(values: list[str] | None) -> list[str] | None:
    """``--column voice --column tier`` and ``--column voice,tier`` both work."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _duration(seconds: float) -> str:
    if seconds >= 360:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _skip_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def export(
    dataset: Annotated[str, typer.Option(help="Dataset name (the dataset column of audio_quality).")],
    where: Annotated[
        str | None,
        typer.Option(help="SQL filter over audio_quality, e.g. \"keep\", \"tier in ('strict','balanced')\"."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="hf (datasets save_to_disk) | jsonl (metadata.jsonl + wavs).")
    ] = "hf",
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default <work>/exports/<dataset>-<format>).")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", "-c", help="audio_quality column to include (repeatable, or comma-separated)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export at --out.")] = False,
    verify_hash: Annotated[
        bool, typer.Option("--verify-hash/--no-verify-hash", help="Skip wavs whose sha256 differs from file_hash.")
    ] = True,
    timeout: Annotated[float, typer.Option(min=1.0, help="Statement timeout for the filter, seconds.")] = 60.0,
    work_dir: Annotated[Path | None, typer.Option(help="Work dir (default ./work).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose")] = False,
) -> None:
    """Export the clips that match --where (all by default) with their audio and chosen columns."""
    setup_logging(verbose)
    from pipeline.export import FORMATS, export_dataset
    from pipeline.store.connection import StoreUnavailable

    if fmt not in FORMATS:
        fail(f"--format {escape(fmt)}: expected one of {', '.join(FORMATS)}")
    settings = settings_with(work_dir=work_dir)
    target = out_dir or settings.work_dir / "exports" / f"{dataset}-{fmt}"
    store = open_store(settings)

    with Progress(
        TextColumn("exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("export", total=None)
        try:
            report = export_dataset(
                store,
                dataset=dataset,
                where=where,
                out_dir=target,
                fmt=fmt,
                columns=_split_columns(column),
                datasets_dir=settings.datasets_dir,
                overwrite=overwrite,
                verify_hash=verify_hash,
                timeout_s=timeout,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except (ValueError, StoreUnavailable) as exc:
            bar.stop()
            fail(escape(str(exc)))
        except OSError as exc:
            bar.stop()
            fail(escape(f"cannot write the export to {target}: {exc}"))

    for skip in report.skipped[:SHOWN_SKIPS]:
        console.print(f"[yellow]skipped[/] {skip.file_hash[:12]}: {escape(skip.reason)}")
    if len(report.skipped) > SHOWN_SKIPS:
        console.print(f"[yellow]... and {len(report.skipped) - SHOWN_SKIPS} more skipped[/]")
    out.print(
        f"exported {report.rows} clips ({_duration(report.audio_s)}) of {escape(dataset)} as {report.fmt}"
        f" to {escape(str(report.out_dir))}",
        soft_wrap=True,
    )
    if report.skipped:
        kinds = Counter(_skip_kind(s.reason) for s in report.skipped)
        detail = ", ".join(f"{n} {escape(kind)}" for kind, n in kinds.most_common())
        out.print(f"skipped {len(report.skipped)} of {report.selected} selected: {detail}", soft_wrap=True)
    else:
        out.print("skipped 0")
