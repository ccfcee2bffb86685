"""``pipeline serve`` on the torch backend: pieces that arrive together are synthesized in one
padded forward pass (``BATCH_WAIT_MS``, ``MAX_BATCH``); one real server, one engine worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from helpers.processes import Server, start_server


@pytest.fixture(scope="module")
def torch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-batching") / "server.log"
    env = {
        "PIPELINE_TTS_BACKEND": "torch",
        "ENGINE_WORKERS": "1",
        "THREADS_PER_WORKER": "1",
        "MAX_BATCH": "4",
        "BATCH_WAIT_MS": "400",
    }
    started = start_server(log, env, timeout_s=300)
    try:
        yield started
    finally:
        started.stop()


def test_requests_arriving_together_share_one_forward_pass(torch_server: Server) -> None:
    texts = ("Hello there.", "How are you?", "Very well, thank you.")

    async def one(client: httpx.AsyncClient, text: str) -> tuple[str, bytes]:
        response = await client.post("/v1/audio/speech/stream", json={"input": text, "voice": "af_heart"})
        assert response.status_code == 200
        return response.headers["x-request-id"], response.content

    async def scenario() -> list[tuple[str, bytes]]:
        async with httpx.AsyncClient(base_url=torch_server.url, timeout=300) as client:
            return await asyncio.gather(*(one(client, text) for text in texts))

    results = asyncio.run(scenario())
    log = httpx.get(torch_server.url + "/api/synthesis").json()["requests"]
    intervals = [log[request_id][0] for request_id, _ in results]
    assert all(i["batch"] == 3 for i in intervals), intervals
    assert len({(i["start"], i["end"]) for i in intervals}) == 1, "one forward pass for the three"
    for _, pcm in results:
        audio = np.frombuffer(pcm, dtype="<i2")
        assert len(audio) > 0.4 * 24000 and np.abs(audio).max() > 1000
    assert httpx.get(torch_server.url + "/api/status").json()["engines"]["max_batch"] == 4
