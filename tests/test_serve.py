"""``pipeline serve`` end to end: real server processes on loopback, real Kokoro audio.

Two servers start once for the module, side by side: ``main`` (defaults, through ``python -m
uvicorn``) and ``tight`` (``pipeline serve`` with MAX_CONCURRENT_JOBS=1, QUEUE_MAXSIZE=1 and an
API key) for auth, backpressure and disconnect tests.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

openai = pytest.importorskip("openai")
websockets = pytest.importorskip("websockets")

from websockets.asyncio.client import connect  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 24000
API_KEY = "test-secret"
LONG_TEXT = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having "
    "nothing to do. Once or twice she had peeped into the book her sister was reading, but it "
    "had no pictures or conversations in it. And what is the use of a book, thought Alice, "
    "without pictures or conversations?"
)


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/audio/speech/stream/ws"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], port: int, extra_env: dict[str, str], log: Path) -> Server:
    env = {**os.environ, "PIPELINE_CACHE_DIR": str(REPO_ROOT / ".cache" / "pipeline"), **extra_env}
    if "API_KEY" not in extra_env:
        env.pop("API_KEY", None)
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return Server(f"http://127.0.0.1:{port}", process)


def _wait_ready(server: Server, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready in {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    logs = tmp_path_factory.mktemp("serve")
    main_port, tight_port = _free_port(), _free_port()
    uvicorn_cmd = [sys.executable, "-m", "uvicorn", "--factory", "pipeline.service:create_app"]
    uvicorn_cmd += ["--host", "127.0.0.1", "--port", str(main_port), "--log-level", "warning"]
    pipeline_bin = shutil.which("pipeline", path=str(Path(sys.executable).parent))
    serve_cmd = [pipeline_bin] if pipeline_bin else [sys.executable, "cli.py"]
    serve_cmd += ["serve", "--host", "127.0.0.1", "--port", str(tight_port), "--log-level", "warning"]
    started = {
        "main": (_start(uvicorn_cmd, main_port, {"MAX_INPUT_CHARS": "20000"}, logs / "main.log"), logs / "main.log"),
        "tight": (
            _start(
                serve_cmd,
                tight_port,
                {
                    "MAX_CONCURRENT_JOBS": "1",
                    "QUEUE_MAXSIZE": "1",
                    "API_KEY": API_KEY,
                    "PRIME_STREAM": "1",
                    "PRIME_BYTES": "9600",
                },
                logs / "tight.log",
            ),
            logs / "tight.log",
        ),
    }
    try:
        for server, log in started.values():
            _wait_ready(server, log)
        yield {name: server for name, (server, _) in started.items()}
    finally:
        for server, _ in started.values():
            server.process.terminate()
        for server, _ in started.values():
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()


@pytest.fixture(scope="module")
def main(servers: dict[str, Server]) -> Server:
    return servers["main"]


@pytest.fixture(scope="module")
def tight(servers: dict[str, Server]) -> Server:
    return servers["tight"]


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def test_health_ready_status_voices(main: Server) -> None:
    assert httpx.get(main.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(main.url + "/readyz").json()
    assert ready["ready"] is True and ready["device"]
    status = httpx.get(main.url + "/api/status").json()
    assert {"device", "queue_depth", "running_jobs", "ffmpeg"} <= status.keys()
    voices = httpx.get(main.url + "/v1/audio/voices").json()
    assert "af_heart" in voices["voices"] and len(voices["voices"]) >= 50
    assert voices["aliases"]["female"] == "af_aoede"


def test_openai_client_wav(main: Server) -> None:
    client = openai.OpenAI(base_url=main.url + "/v1", api_key="unused")
    response = client.audio.speech.create(model="kokoro", voice="af_heart", input="Hello there.", response_format="wav")
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1
    assert 0.4 < len(audio) / rate < 4.0
    assert np.abs(audio).max() > 0.05


def test_http_stream_matches_full_audio(main: Server) -> None:
    text = "Hello there, my friend. This is a streaming test of the speech service."
    body = {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "wav"}
    full, _ = sf.read(io.BytesIO(httpx.post(main.url + "/v1/audio/speech", json=body, timeout=60).content))
    chunks: list[bytes] = []
    with httpx.stream(
        "POST", main.url + "/v1/audio/speech/stream", json=body | {"response_format": "pcm"}, timeout=60
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("audio/pcm")
        chunks = list(r.iter_bytes())
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    stream_s, full_s = len(pcm) / SAMPLE_RATE, len(full) / SAMPLE_RATE
    # The stream is cut into segments (short first one), so pauses differ a little.
    assert abs(stream_s - full_s) < 0.25 * full_s + 0.5, (stream_s, full_s)
    assert np.abs(pcm).max() > 1000


def test_websocket_segments_and_bad_frame(main: Server) -> None:
    async def scenario() -> None:
        async with connect(main.ws_url) as ws:
            for sid, text in (("seg-1", "Hello there."), ("seg-2", "How are you today?")):
                frame = {"continue": True, "segment_id": sid, "input": text, "voice": "female", "format": "pcm"}
                await ws.send(json.dumps(frame))
                audio = b""
                while True:
                    message = await asyncio.wait_for(ws.recv(), 60)
                    if isinstance(message, bytes):
                        audio += message
                        continue
                    end = json.loads(message)
                    assert end == {"type": "end", "segment_id": sid}
                    break
                assert len(audio) / 2 / SAMPLE_RATE > 0.4
                if sid == "seg-1":
                    await ws.send("this is { not json")
                    error = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert error["type"] == "error"
                    await ws.send(
                        json.dumps({"continue": True, "segment_id": "bad", "input": "Hi.", "voice": "nobody"})
                    )
                    error = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert error["type"] == "error" and error["segment_id"] == "bad"
            await ws.send(json.dumps({"continue": False}))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"input": "Hello.", "voice": "no_such_voice"}, 400),
        ({"input": "Hello.", "voice": "af_heart(2)+"}, 400),
        ({"input": "   ", "voice": "af_heart"}, 400),
        ({"voice": "af_heart"}, 422),
        ({"input": "Hello.", "response_format": "mp3"}, 400 if shutil.which("ffmpeg") is None else 200),
    ],
)
def test_bad_requests_are_json(main: Server, body: dict, status: int) -> None:
    response = httpx.post(main.url + "/v1/audio/speech", json=body, timeout=60)
    assert response.status_code == status, response.text
    if status != 200:
        assert response.json()["error"]["message"]


def test_huge_input_is_413(main: Server) -> None:
    body = {"input": "word " * 800_000, "voice": "af_heart"}  # ~4 MB
    for path in ("/v1/audio/speech", "/v1/audio/speech/stream"):
        response = httpx.post(main.url + path, json=body, timeout=60)
        assert response.status_code == 413, response.text
    response = httpx.post(main.url + "/v1/audio/speech", json={"input": "a" * 20_001}, timeout=60)
    assert response.status_code == 413


def test_api_key_enforced(tight: Server) -> None:
    body = {"input": "Hi.", "voice": "af_heart"}
    assert httpx.post(tight.url + "/v1/audio/speech", json=body, timeout=60).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(tight.url + "/v1/audio/speech", json=body, headers=wrong, timeout=60).status_code == 401
    assert httpx.get(tight.url + "/healthz").status_code == 200
    response = httpx.post(tight.url + "/v1/audio/speech", json=body, headers=_auth(), timeout=60)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"

    async def ws_without_key() -> dict:
        async with connect(tight.ws_url) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    assert asyncio.run(ws_without_key())["code"] == "unauthorized"


def _wait_idle(server: Server, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(server.url + "/api/status", headers=_auth()).json()
        if status["running_jobs"] == 0 and status["queue_depth"] == 0 or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_busy_server_answers_503(tight: Server) -> None:
    async def one(client: httpx.AsyncClient) -> tuple[int, str | None]:
        body = {"input": LONG_TEXT, "voice": "af_heart"}
        async with client.stream("POST", "/v1/audio/speech/stream", json=body, headers=_auth()) as r:
            if r.status_code == 200:
                async for _ in r.aiter_bytes():  # one chunk is enough, then hang up
                    break
            return r.status_code, r.headers.get("retry-after")

    async def scenario() -> list[tuple[int, str | None]]:
        async with httpx.AsyncClient(base_url=tight.url, timeout=60) as client:
            return await asyncio.gather(*(one(client) for _ in range(4)))

    results = asyncio.run(scenario())
    codes = [code for code, _ in results]
    assert codes.count(200) >= 1 and codes.count(503) >= 1, codes
    assert all(retry and int(retry) > 0 for code, retry in results if code == 503)
    assert set(codes) <= {200, 503}


def test_disconnect_frees_slot(tight: Server) -> None:
    _wait_idle(tight)
    body = {"input": LONG_TEXT * 3, "voice": "af_heart"}
    with httpx.stream("POST", tight.url + "/v1/audio/speech/stream", json=body, headers=_auth(), timeout=60) as r:
        assert r.status_code == 200
        chunks = r.iter_bytes()  # keep a reference: a collected iterator closes the response
        assert next(chunks)
        busy = httpx.get(tight.url + "/api/status", headers=_auth()).json()
        assert busy["running_jobs"] == 1, busy
    # The client hung up long before the text was spoken: its job is cancelled and the slot freed.
    status = _wait_idle(tight)
    assert status["running_jobs"] == 0 and status["queue_depth"] == 0, status
    response = httpx.post(tight.url + "/v1/audio/speech", json={"input": "Hi again."}, headers=_auth(), timeout=30)
    assert response.status_code == 200


@pytest.mark.parametrize("proto", ["ws", "http"])
def test_bench_measures_a_running_server(main: Server, proto: str) -> None:
    import asyncio

    from pipeline.bench import recommend, run_level

    result = asyncio.run(run_level(main.url, proto, 2, 2, "Hello there, Alice.", "af_heart"))
    assert result.errors == 0 and result.n == 2
    assert 0 < result.ttfb_p50 <= result.ttfb_p95 <= result.total_p95
    assert result.x_real_time > 0
    assert recommend([result], target_ttfb_s=1e6) == 2
    assert recommend([result], target_ttfb_s=0.0) is None


def test_priming_bytes_lead_the_stream(tight: Server) -> None:
    response = httpx.post(
        f"{tight.url}/v1/audio/speech/stream",
        json={"input": "Hello there.", "voice": "af_heart"},
        headers=_auth(),
        timeout=120,
    )
    assert response.status_code == 200
    body = response.content
    assert body[:9600] == bytes(9600), "PRIME_BYTES of silence first"
    audio = np.frombuffer(body[9600:], dtype=np.int16)
    assert np.abs(audio).max() > 1000, "then real speech"
