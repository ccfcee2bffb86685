"""``pipeline serve`` under hostile or unlucky clients: one real server process on loopback
(one running slot, two queue places, an API key, a 4 MB blend cache), real Kokoro synthesis.

Each test ends by itself: waits are bounded, and a long synthesis is only ever stopped by the
cancellation under test (its text would take minutes to synthesize in full).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from helpers.processes import Server, alive, children_of, rss_bytes, start_server, wait_until

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402

API_KEY = "fault-secret"
CACHE_MB = 4
SENTENCE = "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do. "
ENDLESS = SENTENCE * 140  # ~15,000 chars: minutes of synthesis; only a cancellation ends it in time
CANCEL_DEADLINE_S = 45


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-faults") / "server.log"
    env = {"MAX_CONCURRENT_JOBS": "1", "QUEUE_MAXSIZE": "2", "API_KEY": API_KEY, "VOICE_CACHE_MB": str(CACHE_MB)}
    started = start_server(log, env, log_level="info")  # info: the access log is under test too
    try:
        yield started
    finally:
        started.stop()


def idle(server: Server) -> dict:
    return wait_until(
        lambda: (s := server.status())["running_jobs"] == 0 and s["queue_depth"] == 0 and s,
        CANCEL_DEADLINE_S,
        "the server to be idle",
    )


def speech(server: Server, body: dict, timeout: float | httpx.Timeout = 120) -> httpx.Response:
    return httpx.post(server.url + "/v1/audio/speech", json=body, headers=server.headers(), timeout=timeout)


def test_thousands_of_voice_specs_keep_memory_bounded(server: Server) -> None:
    idle(server)
    assert speech(server, {"input": "Hi.", "voice": "af_bella(1)+af_sky(1)"}).status_code == 200  # warm up
    before = rss_bytes(server.process.pid)
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=30) as client:
        for index in range(2000):  # distinct, rejected: one component does not exist
            voice = f"af_bella({1 + index / 1000:.4f})+af_sky(1)+nobody_{index}"
            response = client.post("/v1/audio/speech", json={"input": "Hi.", "voice": voice})
            assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_voice"
        for index in range(16):  # distinct, valid: 16 blends of ~0.5 MB each against a 4 MB cache
            voice = f"af_bella({1 + index / 100:.2f})+af_sky(1)"
            assert client.post("/v1/audio/speech", json={"input": "Hi.", "voice": voice}).status_code == 200
    cache = server.status()["voice_cache"]
    assert cache["bytes"] <= cache["max_bytes"] == CACHE_MB * 2**20
    assert cache["evictions"] >= 16 - CACHE_MB * 2**20 // (510 * 256 * 4)
    growth = rss_bytes(server.process.pid) - before
    assert growth < 150 * 2**20, f"RSS grew {growth / 2**20:.0f} MB"  # unbounded: 2,000 x 0.5 MB = 1 GB


def test_validation_and_503s_never_wait_for_a_long_synthesis(server: Server) -> None:
    idle(server)
    results: dict[str, int] = {}

    def long_request(name: str) -> None:
        try:
            results[name] = speech(server, {"input": ENDLESS, "voice": "af_heart"}, timeout=20).status_code
        except httpx.HTTPError:
            results[name] = -1  # our client gave up: that disconnect cancels the job

    runner = threading.Thread(target=long_request, args=("long",))
    queued: list[threading.Thread] = []
    runner.start()
    try:
        wait_until(lambda: server.status()["running_jobs"] == 1, 30, "the long job to run")
        unknown = speech(server, {"input": "Hello.", "voice": "nobody"})
        assert unknown.status_code == 400 and "nobody" in unknown.json()["error"]["message"]
        queued += [threading.Thread(target=long_request, args=(f"q{i}",)) for i in range(2)]
        for thread in queued:
            thread.start()
        wait_until(lambda: server.status()["queue_depth"] == 2, 30, "two queued jobs")
        busy = speech(server, {"input": "Hello.", "voice": "af_heart"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert runner.is_alive(), "the 400 and the 503 came back while the long synthesis still ran"
        status = server.status()
        assert status["running_jobs"] == 1 and status["jobs_rejected"] >= 1
    finally:
        runner.join(60)
        for thread in queued:
            thread.join(60)
    idle(server)


def test_one_shot_disconnect_cancels_the_job(server: Server) -> None:
    before = idle(server)["jobs_cancelled"]
    with pytest.raises(httpx.ReadTimeout):  # the client leaves after 3 s
        speech(server, {"input": ENDLESS, "voice": "af_heart"}, timeout=httpx.Timeout(30, read=3))
    after = idle(server)
    assert after["jobs_cancelled"] == before + 1


def test_queued_client_that_leaves_frees_its_place(server: Server) -> None:
    before = idle(server)["jobs_cancelled"]
    body = {"input": ENDLESS, "voice": "af_heart"}
    url = server.url + "/v1/audio/speech/stream"

    def impatient() -> None:  # queued behind the first job, it gives up waiting for headers
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json=body, headers=server.headers(), timeout=httpx.Timeout(30, read=5))

    with httpx.stream("POST", url, json=body, headers=server.headers(), timeout=60):
        wait_until(lambda: server.status()["running_jobs"] == 1, 30, "the first job to run")
        second = threading.Thread(target=impatient)
        second.start()
        wait_until(lambda: server.status()["queue_depth"] == 1, 30, "the second job to queue")
        second.join(60)
        # the queued client left: its place is free while the first job still runs
        status = wait_until(lambda: (s := server.status())["queue_depth"] == 0 and s, 30, "the queue to empty")
        assert status["running_jobs"] == 1 and status["jobs_cancelled"] == before + 1
    assert idle(server)["jobs_cancelled"] == before + 2


def test_stream_disconnect_cancels_the_job(server: Server) -> None:
    before = idle(server)["jobs_cancelled"]
    body = {"input": ENDLESS, "voice": "af_heart"}
    with httpx.stream(
        "POST", server.url + "/v1/audio/speech/stream", json=body, headers=server.headers(), timeout=60
    ) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # audio flows; then the client leaves
    assert idle(server)["jobs_cancelled"] == before + 1


def test_websocket_disconnect_cancels_the_job(server: Server) -> None:
    before = idle(server)["jobs_cancelled"]

    async def scenario() -> None:
        async with connect(f"{server.ws_url}?api_key={API_KEY}") as ws:
            await ws.send(json.dumps({"continue": True, "segment_id": "s", "input": ENDLESS, "voice": "af_heart"}))
            assert isinstance(await asyncio.wait_for(ws.recv(), 60), bytes)

    asyncio.run(scenario())
    assert idle(server)["jobs_cancelled"] == before + 1
    log = server.log.read_text(errors="replace")
    assert API_KEY not in log, "the api_key query parameter reached the log"
    assert "api_key=***" in log


def test_chunked_oversize_body_is_cut_off_while_reading(server: Server) -> None:
    before = rss_bytes(server.process.pid)
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"a" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    answer = b""
    pending = b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + b'5\r\n{"inp\r\n')
        # Up to 200 MB of body, until the server answers or closes; never blocks for good: a
        # server that stops reading without answering fails the test instead of hanging it.
        while sent < 200 * 2**20:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable or not writable:
                break
            pending = pending or chunk
            try:
                n = sock.send(pending)
            except OSError:  # the server closed the connection
                break
            pending, sent = pending[n:], sent + n
        sock.settimeout(10)
        try:
            answer = sock.recv(65536)
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 20 * 2**20, f"the server read {sent / 2**20:.0f} MB before refusing"
    assert rss_bytes(server.process.pid) - before < 50 * 2**20


def test_auth_comes_first_and_is_standard(server: Server) -> None:
    url = server.url + "/v1/audio/speech"
    refused = httpx.post(url, content=b"{ not json", headers={"content-type": "application/json"})
    assert refused.status_code == 401  # not 422: an unauthenticated body is never read
    assert refused.headers["www-authenticate"].lower().startswith("bearer")
    lower = httpx.post(url, json={"input": "Hi."}, headers={"Authorization": f"bearer {API_KEY}"}, timeout=60)
    assert lower.status_code == 200
    noise = speech(server, {"input": "?!... --- ;;", "voice": "af_heart"})
    assert noise.status_code == 400 and noise.json()["error"]["code"] == "empty_input"


def test_a_dead_engine_worker_is_replaced(server: Server) -> None:
    """A worker killed while idle loses nothing: its next pieces wait for its replacement."""
    idle(server)
    engines = server.status()["engines"]
    victim = engines["workers"][0]["pid"]
    assert victim in children_of(server.process.pid)
    os.kill(victim, signal.SIGKILL)  # a worker process of the server this module started
    wait_until(lambda: not alive(victim), 10, "the worker to die")
    for text in ("Hello again, after the crash.", "And once more, with feeling."):
        response = speech(server, {"input": text, "voice": "af_heart"})
        assert response.status_code == 200 and response.content[:4] == b"RIFF"
    replaced = engines["workers_replaced"] + 1
    status = wait_until(
        lambda: (e := server.status()["engines"])["workers_replaced"] == replaced and e, 120, "a new worker"
    )
    assert victim not in {w["pid"] for w in status["workers"]}
    assert speech(server, {"input": "All workers back.", "voice": "af_heart"}).status_code == 200
