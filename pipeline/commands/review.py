"""``pipeline review``: the review web app (listen, overrule, rate, calibrate) over the store.

Examples::

    pipeline review                                  # http://127.0.0.1:8010
    pipeline review --dataset alice-kokoro --port 8011
    API_KEY=secret pipeline review --host 0.0.0.0    # others log in with any name and the key
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from pipeline.commands import options as opt
from pipeline.commands.common import fail, out, settings_with, setup_logging


def review(
    dataset: Annotated[str | None, typer.Option(help="Dataset the pages open on (default: the first).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind; other than loopback needs API_KEY.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8010,
    root: Annotated[
        list[Path] | None,
        typer.Option("--root", help="Another folder audio may be served from (foreign data validated in place)."),
    ] = None,
    reviewer: Annotated[str | None, typer.Option(help="Your name on decisions and ratings (default: login).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the rating sample and the bootstrap.")] = 0,
    work_dir: opt.WorkDir = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Review clips in the browser: listen, see which word failed, approve/reject, rate MOS, calibrate judges."""
    setup_logging()
    import uvicorn

    from pipeline.commands.db import open_store
    from pipeline.review.app import ReviewConfig, create_app
    from pipeline.review.security import UnsafeBind, check_bind

    settings = settings_with(work_dir=work_dir)
    try:
        check_bind(host, settings.api_key)
    except UnsafeBind as exc:
        fail(str(exc))
    missing = [str(p) for p in root or [] if not p.is_dir()]
    if missing:
        fail(f"--root must be existing folders: {', '.join(missing)}")
    store = open_store(settings)
    config = ReviewConfig(
        store=store,
        datasets_dir=settings.datasets_dir.resolve(),
        roots=tuple(p.resolve() for p in root or []),
        dataset=dataset,
        reviewer=reviewer or getpass.getuser(),
        api_key=settings.api_key,
        seed=seed,
    )
    out.print(f"review: http://{host}:{port}/clips")
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level)
