"""``pipeline serve``: the streaming TTS endpoint (FastAPI + uvicorn).

Examples::

    pipeline serve                       # 127.0.0.1:8000
    MAX_CONCURRENT_JOBS=4 API_KEY=secret pipeline serve --host 0.0.0.0 --port 8080
    ENGINE_WORKERS=2 THREADS_PER_WORKER=1 pipeline serve   # two engine processes of one thread each
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.commands.common import fail, setup_logging


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve Kokoro TTS over HTTP and WebSocket (OpenAI-compatible /v1/audio/speech; every format streamed)."""
    setup_logging()
    import uvicorn

    from pipeline.serve.pool import DeviceUnavailable
    from pipeline.service import create_app

    try:
        app = create_app()
    except (DeviceUnavailable, ValueError) as exc:  # a device that is not there, a bad voices file
        fail(str(exc))
    uvicorn.run(app, host=host, port=port, log_level=log_level)
