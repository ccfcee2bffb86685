"""``pipeline heal`` (re-synthesize the chunks whose clip is not kept, select the best take of
each) and ``pipeline lexicon suggest`` over ``pipeline.jobs.heal`` and ``pipeline.heal``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pipeline.choices import EngineMode, RunMode
from pipeline.commands import options as opt
from pipeline.commands.common import console, fail, out, safe_dataset, settings_with, setup_logging, user_errors
from pipeline.commands.progress import RichReporter
from pipeline.heal.ladder import DEFAULT_MAX_ATTEMPTS
from pipeline.jobs.heal import HealReport, HealRequest
from pipeline.jobs.heal import heal as heal_job

Ladder = Annotated[
    str | None,
    typer.Option(help="Rungs in order, comma-separated: lexicon,stress,speed,split,backend (default: all five)."),
]
MaxAttempts = Annotated[int, typer.Option(min=0, help="Re-syntheses per chunk and voice (a split pair counts once).")]
Lexicon = Annotated[
    Path | None, typer.Option(help="Pronunciation lexicon: lines 'word phonemes' (misaki notation) or a JSON object.")
]
SpeedStep = Annotated[float, typer.Option(min=0.01, max=0.3, help="Speed rung: try speed x (1 -/+ this).")]


def heal_request(dataset: str, ladder: str | None, max_attempts: int, speed_step: float, lexicon: Path | None,
                 engines: EngineMode, mode: RunMode, combine: bool, candidates: list[str] | None = None,
                 ) -> HealRequest:  # fmt: skip
    from pipeline.heal.ladder import parse_ladder

    try:
        rungs = parse_ladder(ladder)
    except ValueError as exc:
        fail(escape(str(exc)))
    if lexicon is not None and not lexicon.is_file():
        fail(f"--lexicon {escape(str(lexicon))}: no such file")
    others = tuple(safe_dataset(name) for name in candidates or ())
    return HealRequest(dataset, rungs, max_attempts, speed_step, lexicon, engines, mode, combine, others)


def heal(
    dataset: Annotated[str, typer.Argument(help="Dataset to heal (a folder under <work>/datasets).")],
    ladder: Ladder = None,
    max_attempts: MaxAttempts = DEFAULT_MAX_ATTEMPTS,
    speed_step: SpeedStep = 0.08,
    lexicon: Lexicon = None,
    candidates: Annotated[
        list[str] | None,
        typer.Option(
            help="Another dataset whose clips with a chunk's exact label compete in the selection (repeatable)."
        ),
    ] = None,
    engines: opt.Engines = EngineMode.cascade,
    mode: opt.Mode = RunMode.batch,
    primary: opt.PrimaryEngine = None,
    secondary: opt.SecondaryEngine = None,
    mos_mode: opt.MosModeOpt = None,
    backend: opt.Backend = None,
    runner: opt.Runner = None,
    ray_address: opt.RayAddress = None,
    workers: opt.Workers = None,
    combine: opt.Combine = False,
    work_dir: opt.WorkDir = None,
    verbose: opt.Verbose = False,
) -> None:
    """Re-synthesize every chunk whose clip is not kept (lexicon, stress, respell, speed, split, other backend),
    validate each attempt like `validate`, and select the best take of every chunk and voice."""
    setup_logging(verbose)
    settings = settings_with(
        asr_primary=primary, asr_secondary=secondary, mos_mode=mos_mode, tts_backend=backend, runner=runner,
        ray_address=ray_address, workers=workers, work_dir=work_dir,
    )  # fmt: skip
    request = heal_request(
        safe_dataset(dataset), ladder, max_attempts, speed_step, lexicon, engines, mode, combine, candidates
    )
    with user_errors():
        report = heal_job(request, settings, RichReporter())
    print_heal_summary(report)
    if report.failures:
        raise typer.Exit(1)


def print_heal_summary(report: HealReport) -> None:
    for target, clips, seconds in report.combined:
        console.print(f"combined {clips} selected clips into {target} ({seconds / 60:.1f} min)")
    before, after = report.before, report.after
    table = Table(title="heal summary", show_header=False)
    table.add_row("chunks (x voices)", str(after.chunks))
    table.add_row(
        "covered by a kept clip", f"{before.covered} -> {after.covered} ({before.share:.1%} -> {after.share:.1%})"
    )
    table.add_row("hours kept", f"{before.hours_kept:.3f} -> {after.hours_kept:.3f}")
    table.add_row("attempts made / stored", f"{report.attempts_made} / {after.attempts} ({report.rounds} rounds)")
    table.add_row("healed", str(len(report.healed)))
    if report.candidates:
        table.add_row("candidate clips imported", str(report.candidates))
    table.add_row("reject pile", f"{len(report.rejects)}: `pipeline export --dataset D --rejects --format csv`")
    table.add_row("wall time", f"{report.wall_s:.1f} s")
    out.print(table)
    for failure in report.failures[:10]:
        console.print(f"[red]failed:[/] {escape(failure)}")


lexicon_app = typer.Typer(no_args_is_help=True)


@lexicon_app.command()
def suggest(
    dataset: Annotated[str, typer.Argument(help="Validated dataset whose failing words to read.")],
    min_chunks: Annotated[int, typer.Option(min=1, help="Propose words failing in at least this many chunks.")] = 2,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the lexicon here (default: print).")
    ] = None,
    work_dir: opt.WorkDir = None,
    verbose: opt.Verbose = False,
) -> None:
    """Propose pronunciation-lexicon entries for words that fail in several chunks (check them by
    ear, then pass the file to `pipeline heal --lexicon`)."""
    setup_logging(verbose)
    from pipeline.commands.db import open_store
    from pipeline.heal.pronunciations import format_lexicon
    from pipeline.heal.pronunciations import suggest as suggest_entries
    from pipeline.store.connection import StoreUnavailable
    from pipeline.tts.espeak import EspeakReader, english_voice

    settings = settings_with(work_dir=work_dir)
    reader = EspeakReader(english_voice(settings.lang_code))
    try:
        reader.setup()
        read = lambda word: (reader.words(word) or [None])[0]  # noqa: E731
    except Exception as exc:  # espeak-ng missing: entries without a proposal
        console.print(f"[yellow]espeak-ng unavailable ({escape(str(exc))}): no proposed phonemes[/]")
        read = None
    try:
        found = suggest_entries(open_store(settings), safe_dataset(dataset), min_chunks, read)
    except StoreUnavailable as exc:
        fail(escape(str(exc)))
    text = format_lexicon(found)
    if out_file is None:
        out.print(text, end="", markup=False, highlight=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        out.print(f"{len(found)} word(s) proposed in {escape(str(out_file))}")
