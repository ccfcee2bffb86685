"""``pipeline serve`` end to end: real server processes on loopback, real Kokoro audio.

Two servers start once for the module, side by side: ``main`` (defaults, through ``python -m
uvicorn``) and ``tight`` (``pipeline serve`` with MAX_CONCURRENT_JOBS=1, QUEUE_MAXSIZE=1 and an
API key) for auth, backpressure and disconnect tests.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
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

from pipeline.serve.segments import silence_between, speech_bounds  # noqa: E402

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


def _wait_ready(server: Server, log: Path, timeout: float = 240.0) -> None:
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
                    assert end == {"type": "end", "segment_id": sid, "audio_seconds": len(audio) / 2 / SAMPLE_RATE}
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
        ({"input": "Hello.", "response_format": "mp3"}, 200),  # in-process (PyAV): no ffmpeg binary needed
        ({"input": "Hello.", "response_format": "ogg"}, 422),
        ({"input": "Hello.", "format": "pcm", "response_format": "wav"}, 422),
        ({"input": "Hello.", "lang_code": "xx"}, 400),
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


@pytest.mark.parametrize("proto", ["ws", "http", "openai"])
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


# --- formats, protocol, timestamps, seamless joins, failures (issue 16) ---------------------

FORMATS = ("wav", "pcm", "flac", "mp3", "opus", "aac")
SPLIT_SENTENCE = "How brave they'll all think me at home!"  # cut after "me" (FIRST_SEGMENT_MAX_WORDS=6)
# The third segment is one "word" of 961 phonemes: Kokoro takes at most 510, and a word is never cut.
FAILING_TEXT = "Hello there, my friend. This is fine. " + "-".join(["supercalifragilistic"] * 40) + "."


def _decode(data: bytes, fmt: str) -> np.ndarray:
    """Any served format back to mono float samples at 24 kHz (opus is 48 kHz inside: resampled)."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
    import av

    container = av.open(io.BytesIO(data))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    parts = [frame.to_ndarray().reshape(-1) for raw in container.decode(audio=0) for frame in resampler.resample(raw)]
    parts += [frame.to_ndarray().reshape(-1) for frame in resampler.resample(None)]
    return np.concatenate(parts)


def _speech_start_s(audio: np.ndarray) -> float:
    bounds = speech_bounds(audio)
    assert bounds is not None
    return bounds[0] / SAMPLE_RATE


def _ndjson(url: str, body: dict) -> tuple[bytes, list[dict], dict]:
    """Audio bytes, word times and the last line of an NDJSON (``timestamps``) stream."""
    audio, words, last = b"", [], {}
    with httpx.stream("POST", url, json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        for line in r.iter_lines():
            last = json.loads(line)
            if last["type"] == "audio":
                audio += base64.b64decode(last["audio"])
            elif last["type"] == "words":
                words += last["words"]
    return audio, words, last


def test_seed_body_with_format_is_honoured(main: Server) -> None:
    seed = {"input": "Hello there.", "voice": "female", "format": "pcm"}
    for path in ("/v1/audio/speech", "/v1/audio/speech/stream"):
        response = httpx.post(main.url + path, json=seed, timeout=60)
        assert response.status_code == 200 and response.headers["content-type"] == "audio/pcm", path
        assert response.content[:4] != b"RIFF" and len(response.content) / 2 / SAMPLE_RATE > 0.4
    wav = httpx.post(main.url + "/v1/audio/speech/stream", json=seed | {"format": "wav"}, timeout=60)
    assert wav.content[:4] == b"RIFF"
    assert sf.read(io.BytesIO(wav.content))[0].size > 0.4 * SAMPLE_RATE


def test_models_and_openai_voices(main: Server) -> None:
    models = httpx.get(main.url + "/v1/models").json()
    assert models["object"] == "list" and {"kokoro", "tts-1"} <= {m["id"] for m in models["data"]}
    voices = httpx.get(main.url + "/v1/audio/voices").json()
    assert {"alloy", "echo", "fable", "nova", "onyx", "shimmer", "ash", "coral", "sage"} <= voices["openai"].keys()


def test_openai_client_alloy_streams_every_format(main: Server) -> None:
    client = openai.OpenAI(base_url=main.url + "/v1", api_key="unused")
    lengths = {}
    for fmt in FORMATS:
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="Hello there.", response_format=fmt, extra_body={"stream": True}
        ) as response:
            data = b"".join(response.iter_bytes())
        audio = _decode(data, fmt)
        lengths[fmt] = len(audio) / SAMPLE_RATE
        assert np.abs(audio).max() > 0.05, fmt
    # mp3 and aac add their encoder delay (< 0.1 s); the others decode to the very same length
    assert max(lengths.values()) - min(lengths.values()) < 0.15, lengths
    whole = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.", response_format="opus")
    assert abs(len(_decode(whole.content, "opus")) / SAMPLE_RATE - lengths["opus"]) < 0.05


def test_websocket_opus_frames_decode_to_the_announced_length(main: Server) -> None:
    async def scenario() -> tuple[bytes, list[dict], dict]:
        async with connect(main.ws_url) as ws:
            text = "Hello there, my friend. This is a streaming test."
            frame = {"segment_id": "o", "input": text, "voice": "nova", "format": "opus", "timestamps": True}
            await ws.send(json.dumps(frame))
            audio, words = b"", []
            while True:
                message = await asyncio.wait_for(ws.recv(), 60)
                if isinstance(message, bytes):
                    audio += message
                    continue
                parsed = json.loads(message)
                if parsed["type"] == "words":
                    words += parsed["words"]
                else:
                    return audio, words, parsed

    data, words, end = asyncio.run(scenario())
    assert end["type"] == "end" and end["segment_id"] == "o"
    assert data[:4] == b"OggS"
    decoded_s = len(_decode(data, "opus")) / SAMPLE_RATE
    assert abs(decoded_s - end["audio_seconds"]) < 0.03, (decoded_s, end)
    assert [w["word"] for w in words][-2:] == ["streaming", "test"]
    assert abs(words[-1]["end_s"] - decoded_s) < 0.2


def test_timestamps_match_the_audio(main: Server) -> None:
    text = "Alice was beginning to get very tired. She had nothing to do."
    data, words, end = _ndjson(main.url + "/v1/audio/speech/stream", {"input": text, "timestamps": True})
    assert end == {"type": "end", "audio_seconds": pytest.approx(len(data) / 2 / SAMPLE_RATE, abs=0.002)}
    audio = _decode(data, "pcm")
    duration = len(audio) / SAMPLE_RATE
    assert [w["word"] for w in words] == text.replace(".", "").split()
    assert all(a["end_s"] <= b["start_s"] + 1e-3 for a, b in zip(words, words[1:], strict=False))
    assert abs(words[-1]["end_s"] - duration) < 0.2, (words[-1], duration)
    assert abs(words[0]["start_s"] - _speech_start_s(audio)) < 0.15, (words[0], _speech_start_s(audio))
    whole = httpx.post(main.url + "/v1/audio/speech", json={"input": text, "timestamps": True}, timeout=120).json()
    assert [w["word"] for w in whole["words"]] == [w["word"] for w in words]
    assert abs(whole["words"][-1]["end_s"] - whole["audio_seconds"]) < 0.2


def test_first_segment_join_pauses_like_the_whole_sentence(main: Server) -> None:
    whole = httpx.post(
        main.url + "/v1/audio/speech", json={"input": SPLIT_SENTENCE, "timestamps": True}, timeout=120
    ).json()
    whole_audio = _decode(base64.b64decode(whole["audio"]), "wav")
    data, words, _ = _ndjson(main.url + "/v1/audio/speech/stream", {"input": SPLIT_SENTENCE, "timestamps": True})
    split_audio = _decode(data, "pcm")

    def pause(audio: np.ndarray, times: list[dict]) -> float:  # silence from "me" to "at"
        at = {w["word"]: w for w in times}
        return silence_between(audio, at["me"]["start_s"], at["at"]["end_s"])

    whole_pause, split_pause = pause(whole_audio, whole["words"]), pause(split_audio, words)
    assert abs(split_pause - whole_pause) <= 0.1, (split_pause, whole_pause)
    assert _speech_start_s(split_audio) <= 0.05 + 0.02  # LEADING_SILENCE_MS=50, 10 ms frames
    assert _speech_start_s(whole_audio) <= 0.05 + 0.02


def test_failing_segment_is_never_complete_looking_audio(main: Server) -> None:
    body = {"input": FAILING_TEXT, "voice": "af_heart"}
    received = []
    with pytest.raises(httpx.RemoteProtocolError):  # cut off without the final chunk
        with httpx.stream("POST", main.url + "/v1/audio/speech/stream", json=body, timeout=120) as r:
            assert r.status_code == 200
            for piece in r.iter_bytes():
                received.append(piece)
    assert received, "the first segments' audio came before the failure"
    with pytest.raises(httpx.RemoteProtocolError):
        _ndjson(main.url + "/v1/audio/speech/stream", body | {"timestamps": True})
    one_shot = httpx.post(main.url + "/v1/audio/speech", json=body, timeout=120)
    assert one_shot.status_code == 400 and "961 phonemes" in one_shot.json()["error"]["message"]

    async def scenario() -> list:
        async with connect(main.ws_url) as ws:
            await ws.send(json.dumps({"segment_id": "bad", **body}))
            frames = []
            while not frames or isinstance(frames[-1], bytes):
                frames.append(await asyncio.wait_for(ws.recv(), 60))
            await ws.send(json.dumps({"segment_id": "next", "input": "Still here.", "voice": "af_heart"}))
            while isinstance(message := await asyncio.wait_for(ws.recv(), 60), bytes):
                pass
            return [*frames, message]

    frames = asyncio.run(scenario())
    error, after = json.loads(frames[-2]), json.loads(frames[-1])
    assert any(isinstance(f, bytes) for f in frames), "the first segment's audio came before the failure"
    assert error["type"] == "error" and error["code"] == "segment_failed" and error["segment_id"] == "bad"
    assert after == {"type": "end", "segment_id": "next", "audio_seconds": pytest.approx(after["audio_seconds"])}


def test_bad_device_is_refused_at_start_up(tmp_path: Path) -> None:
    for device, reason in (("cuda:1", "cuda:1"), ("tpu", "invalid torch device")):
        env = {**os.environ, "PIPELINE_CACHE_DIR": str(REPO_ROOT / ".cache" / "pipeline"), "KOKORO_DEVICE": device}
        done = subprocess.run(
            [sys.executable, "cli.py", "serve", "--port", str(_free_port())],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0 and reason in done.stdout + done.stderr, done.stderr[-2000:]


def test_parallel_requests_overlap_in_synthesis(main: Server) -> None:
    """Two requests at once run on different engine workers at the same time (the server's own
    record of each synthesis: worker pid, start and end on one monotonic clock)."""

    async def one(client: httpx.AsyncClient, text: str) -> str:
        response = await client.post("/v1/audio/speech/stream", json={"input": text, "voice": "af_heart"})
        assert response.status_code == 200 and len(response.content) > 2 * SAMPLE_RATE
        return response.headers["x-request-id"]

    async def scenario() -> list[str]:
        async with httpx.AsyncClient(base_url=main.url, timeout=120) as client:
            text = "Alice was beginning to get very tired. She had nothing to do."
            return await asyncio.gather(one(client, text), one(client, text))

    first, second = asyncio.run(scenario())
    log = httpx.get(main.url + "/api/synthesis").json()["requests"]
    a, b = log[first], log[second]
    overlapping = [(x, y) for x in a for y in b if x["start"] < y["end"] and y["start"] < x["end"]]
    assert overlapping, (a, b)
    assert all(x["worker"] != y["worker"] for x, y in overlapping)
    assert httpx.get(main.url + "/api/status").json()["engines"]["workers"][1]["pid"]


def test_first_segment_is_synthesized_alone_then_later_ones_in_parallel(main: Server) -> None:
    """A lone request's first segment has the engines to itself (nothing else of it is
    synthesized until it is done: the time to first byte), then its later segments run on
    several workers at once (the server's own record of each synthesis)."""
    text = "Alice was beginning to get very tired. She had nothing to do. Once or twice she had peeped."
    response = httpx.post(main.url + "/v1/audio/speech/stream", json={"input": text, "voice": "af_heart"}, timeout=120)
    assert response.status_code == 200
    pieces = sorted(
        httpx.get(main.url + "/api/synthesis").json()["requests"][response.headers["x-request-id"]],
        key=lambda interval: interval["start"],
    )
    assert len(pieces) == 4, pieces  # "Alice was beginning to get very" | "tired." | "She had ..." | "Once ..."
    first, later = pieces[0], pieces[1:]
    assert all(first["end"] <= piece["start"] for piece in later), pieces
    assert any(
        x["start"] < y["end"] and y["start"] < x["end"] and x["worker"] != y["worker"]
        for i, x in enumerate(later)
        for y in later[i + 1 :]
    ), pieces


def test_languages_and_phonemize(main: Server) -> None:
    english = httpx.post(main.url + "/v1/phonemize", json={"input": "Hello there."}, timeout=60).json()
    assert english["phonemes"] == "həlˈO ðˈɛɹ." and english["lang_code"] == "a"
    spanish = httpx.post(main.url + "/v1/phonemize", json={"input": "Me llamo Alicia.", "lang_code": "e"}, timeout=60)
    assert spanish.json()["phonemes"] == "me ʎˈamo alˈiθja."
    body = {"input": "Hola, me llamo Alicia.", "voice": "ef_dora", "lang_code": "e", "timestamps": True}
    data, words, end = _ndjson(main.url + "/v1/audio/speech/stream", body)
    assert [w["word"] for w in words] == ["Hola,", "me", "llamo", "Alicia."]
    assert end["audio_seconds"] > 1.0 and np.abs(_decode(data, "pcm")).max() > 0.05
    if importlib.util.find_spec("pyopenjtalk") is None:  # misaki[ja] is not installed here
        refused = httpx.post(main.url + "/v1/audio/speech", json={"input": "こんにちは", "lang_code": "j"}, timeout=60)
        assert refused.status_code == 400 and "lang_code 'j'" in refused.json()["error"]["message"]


def test_bench_openai_drives_servers_side_by_side(main: Server) -> None:
    """``pipeline bench --openai`` (the same server under two spellings of its URL stands in for a peer)."""
    done = subprocess.run(
        [sys.executable, "cli.py", "bench", "--openai", main.url, "--openai", main.url + "/v1/", "--n", "2"]
        + ["--concurrency", "1", "--text", "Hello there."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if main.url in line]
    assert len(rows) == 2 and all(row.rstrip().rstrip("│").split("│")[-1].strip() == "0" for row in rows), done.stdout
