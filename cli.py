"""The ``pipeline`` command.

Examples::

    pipeline generate --book data/books/alice.txt --chapters 1
    pipeline voices add narrator "af_bella(2)+af_sky(1)" --validate
    pipeline doctor
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.commands.bench import bench
from pipeline.commands.common import fail, out, settings_with, setup_logging
from pipeline.commands.db import db_app
from pipeline.commands.export import export
from pipeline.commands.generate import generate
from pipeline.commands.heal import heal, lexicon_app
from pipeline.commands.query import query, report
from pipeline.commands.review import review
from pipeline.commands.serve import serve
from pipeline.commands.validate import run, validate
from pipeline.commands.voices import voices_app

app = typer.Typer(
    name="pipeline",
    help="Turn books into validated Kokoro TTS datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(generate)
app.command()(bench)
app.command()(validate)
app.command()(run)
app.command()(export)
app.command()(query)
app.command()(report)
app.command()(serve)
app.command()(review)
app.command()(heal)
app.add_typer(voices_app, name="voices", help="List voices; add or remove named blends.")
app.add_typer(db_app, name="db")
app.add_typer(lexicon_app, name="lexicon", help="Per-book pronunciation lexicon for heal.")


@app.command()
def assets(
    cache_dir: Annotated[Path | None, typer.Option(help="Asset cache (default ./.cache/pipeline).")] = None,
) -> None:
    """Assemble the embedded model assets (Kokoro int8 ONNX, 54 voices, Whisper base, and the
    torch checkpoint rebuilt from the ONNX) and verify them."""
    setup_logging()
    from pipeline.assets import AssetError, ensure_assets, verify_assets
    from pipeline.tts.onnx_to_torch import assemble_torch_checkpoint

    settings = settings_with(cache_dir=cache_dir)
    try:
        assemble_torch_checkpoint(ensure_assets(settings.cache_dir))
        paths = verify_assets(settings.cache_dir)
    except AssetError as exc:
        fail(str(exc))
    out.print(f"Kokoro ONNX: {paths.onnx_model}")
    out.print(f"voices:      {paths.voices_dir} ({len(list(paths.voices_dir.glob('*.bin')))} packs)")
    out.print(f"Kokoro torch: {paths.torch_checkpoint} (int8-rounded weights rebuilt from the ONNX)")


@app.command()
def doctor() -> None:
    """Show which engines, models, devices and database are available, and why not."""
    setup_logging()
    from pipeline.doctor import run_checks

    table = Table(title="pipeline doctor")
    table.add_column("component")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for check in run_checks(settings_with()):
        table.add_row(check.component, "[green]yes[/]" if check.ok else "[red]no[/]", check.detail)
    out.print(table)


if __name__ == "__main__":
    app()
