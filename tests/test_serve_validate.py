"""The validator HTTP API (``/api/validate``, ``/api/validate/folder``, ``/api/jobs``, ``/api/mos``,
``/api/help``) on one real ``pipeline serve`` process on loopback, with the embedded models
(whisper-tiny as both engines, the DistillMOS judge) and a real Postgres database.

The speech is Kokoro's, made by the same server's ``/v1/audio/speech``. One server for the
module: each model loads once, on its first use.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import soundfile as sf
from helpers.processes import Server, start_server, wait_until

API_KEY = "validator-secret"
MAX_SECONDS = 20
MAX_BYTES = 1_000_000
SPOKEN = "The cat sat quietly on the warm mat near the old red barn."
SWAPPED = "The dog sat quietly on the warm mat near the old red barn."  # label says "cat"
OTHER = "Alice was beginning to get very tired of sitting by her sister."
ROUTES = {
    ("POST", "/api/validate"),
    ("POST", "/api/validate/folder"),
    ("GET", "/api/jobs/{id}"),
    ("DELETE", "/api/jobs/{id}"),
    ("POST", "/api/mos"),
    ("GET", "/api/help"),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("validate-root")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str, root: Path) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("validate-work")
    env = {
        "API_KEY": API_KEY,
        "DATABASE_URL": database_url,
        "VALIDATE_ROOT": str(root),
        "MAX_VALIDATE_SECONDS": str(MAX_SECONDS),
        "MAX_VALIDATE_BYTES": str(MAX_BYTES),
        "PIPELINE_WORK_DIR": str(work),
        "PIPELINE_ASR_PRIMARY": "whisper-tiny",
        "PIPELINE_ASR_SECONDARY": "whisper-tiny",
        "PIPELINE_MOS_JUDGES": '["distillmos"]',
    }
    started = start_server(work / "server.log", env)
    try:
        yield started
    finally:
        started.stop()


def speak(server: Server, text: str) -> bytes:
    response = httpx.post(
        server.url + "/v1/audio/speech",
        json={"input": text, "voice": "af_heart", "response_format": "wav"},
        headers=server.headers(),
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def clips(server: Server, root: Path) -> dict[str, Path]:
    """Under the allowed root: clips/match.wav (+ .txt), clips/swapped.wav (+ .lab, the label
    differs from the audio by one word), folder/ (two labelled clips, a clip too long to
    validate, a label without audio) and a symlink that points outside the root."""
    match, swapped, other = speak(server, SPOKEN), speak(server, SWAPPED), speak(server, OTHER)
    clip_dir, folder = root / "clips", root / "folder"
    clip_dir.mkdir()
    folder.mkdir()
    paths = {"match": clip_dir / "match.wav", "swapped": clip_dir / "swapped.wav"}
    paths["match"].write_bytes(match)
    (clip_dir / "match.txt").write_text(SPOKEN, encoding="utf-8")
    paths["swapped"].write_bytes(swapped)
    (clip_dir / "swapped.lab").write_text(SPOKEN, encoding="utf-8")
    (folder / "a.wav").write_bytes(match)
    (folder / "a.txt").write_text(SPOKEN, encoding="utf-8")
    (folder / "b.wav").write_bytes(other)
    (folder / "b.lab").write_text(OTHER, encoding="utf-8")
    noise = np.random.default_rng(0).normal(0, 0.01, 8000 * (MAX_SECONDS + 5)).astype(np.float32)
    sf.write(folder / "c_long.wav", noise, 8000, subtype="PCM_16")
    (folder / "c_long.txt").write_text("noise", encoding="utf-8")
    (folder / "d_orphan.txt").write_text("a label without audio", encoding="utf-8")
    paths["outside"] = root.parent / f"{root.name}-outside.wav"
    paths["outside"].write_bytes(match)
    (root / "link.wav").symlink_to(paths["outside"])
    paths["long"] = folder / "c_long.wav"
    return paths


def post(server: Server, route: str, **kwargs) -> httpx.Response:
    return httpx.post(server.url + route, headers=server.headers(), timeout=300, **kwargs)


def upload(path: Path, **fields: str) -> dict:
    return {"files": {"audio": (path.name, path.read_bytes(), "audio/wav")}, "data": fields}


def rows(database_url: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


def wait_for_job(server: Server, job_id: str) -> dict:
    def finished() -> dict | None:
        view = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=server.headers(), timeout=10).json()
        return view if view["status"] in ("done", "failed", "cancelled") else None

    return wait_until(finished, 300, f"job {job_id} to finish", interval_s=0.5)


# --- the routes ---------------------------------------------------------------------------------


def test_help_describes_every_route_and_the_limits(server: Server) -> None:
    help_ = httpx.get(server.url + "/api/help", headers=server.headers(), timeout=10).json()
    assert {(r["method"], r["path"]) for r in help_["routes"]} == ROUTES
    assert help_["limits"]["max_validate_seconds"] == MAX_SECONDS
    assert help_["limits"]["max_validate_bytes"] == MAX_BYTES
    assert help_["engines"] == {"primary": "whisper-tiny", "secondary": "whisper-tiny"}
    assert help_["mos_judges"] == ["distillmos"]
    validate = next(r for r in help_["routes"] if r["path"] == "/api/validate")
    assert {"audio", "path", "text", "engines", "detail", "include_mos", "store"} <= set(validate["parameters"])


def test_upload_is_validated_against_its_label(server: Server, clips: dict[str, Path]) -> None:
    response = post(server, "/api/validate", **upload(clips["match"], text=SPOKEN, engines="primary", detail="true"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["keep"] is True and body["error"] is None and body["stored"] is False
    assert body["file_hash"] == hashlib.sha256(clips["match"].read_bytes()).hexdigest()
    assert body["path"] == "match.wav" and body["dataset"] == "api"
    assert body["engines"]["mode"] == "primary" and body["engines"]["loaded"] == {"whisper-tiny": "cpu"}
    row = body["row"]
    assert row["primary_engine"] == "whisper-tiny" and row["n_words"] == len(SPOKEN.split())
    assert "secondary_engine" not in row  # engines=primary
    assert "composite_mos" not in row  # include_mos was not asked for
    assert [w["label_word"] for w in body["words"]] == SPOKEN.split()
    assert {w["verdict"] for w in body["words"]} == {"pass"}


def test_a_label_that_differs_from_the_audio_is_flagged(server: Server, clips: dict[str, Path]) -> None:
    body = post(server, "/api/validate", **upload(clips["swapped"], text=SPOKEN, engines="both", detail="1")).json()
    assert body["keep"] is False and body["engines"]["secondary"] == "whisper-tiny"
    flagged = [w["label_word"] for w in body["words"] if w["verdict"] in ("tts_failure", "ambiguous")]
    assert flagged == ["cat"], [(w["label_word"], w["primary_word"], w["verdict"], w["rule"]) for w in body["words"]]
    assert "words" not in post(server, "/api/validate", **upload(clips["match"], text=SPOKEN)).json()


def test_path_with_sidecar_label_mos_and_store_lands_a_row(
    server: Server, clips: dict[str, Path], database_url: str
) -> None:
    body = {"path": "clips/swapped.wav", "engines": "cascade", "include_mos": True, "store": True, "dataset": "apitest"}
    response = post(server, "/api/validate", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["stored"] is True and result["keep"] is False
    assert result["row"]["text"] == SPOKEN  # the .lab beside the wav
    assert result["row"]["escalated"] is True  # the cascade sent the flagged clip to the secondary
    assert result["row"]["mos_judges"] == ["distillmos"] and result["row"]["composite_mos"] > 1
    stored = rows(
        database_url,
        "SELECT path, keep, tier, n_words, composite_mos, escalated FROM audio_quality"
        " WHERE dataset = 'apitest' AND file_hash = %s",
        result["file_hash"],
    )
    assert stored == [
        (
            str(clips["swapped"].resolve()),
            False,
            "reject",
            len(SPOKEN.split()),
            pytest.approx(result["row"]["composite_mos"]),
            True,
        )
    ]
    words = rows(database_url, "SELECT count(*) FROM audio_words WHERE dataset = 'apitest'")[0][0]
    assert words >= len(SPOKEN.split())


def test_stored_upload_keeps_its_audio_where_the_row_points(
    server: Server, clips: dict[str, Path], database_url: str
) -> None:
    fields = {"text": SPOKEN, "engines": "primary", "store": "true", "dataset": "uploads"}
    result = post(server, "/api/validate", **upload(clips["match"], **fields)).json()
    assert result["stored"] is True
    (path,) = rows(database_url, "SELECT path FROM audio_quality WHERE dataset = 'uploads'")[0]
    assert Path(path).is_absolute() and hashlib.sha256(Path(path).read_bytes()).hexdigest() == result["file_hash"]


def test_mos_scores_audio_without_a_label(server: Server, clips: dict[str, Path]) -> None:
    response = post(server, "/api/mos", files={"audio": ("clip.wav", clips["match"].read_bytes(), "audio/wav")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["judges"] == ["distillmos"] and body["skipped"] == {}
    assert 1 <= body["mos"]["mos_distillmos"] <= 5 and body["mos"]["composite_mos"] == body["mos"]["mos_distillmos"]
    assert body["signal"]["duration_s"] == pytest.approx(sf.info(clips["match"]).duration, abs=1e-3)
    assert body["signal_error"] is None
    by_path = post(server, "/api/mos", json={"path": "clips/match.wav", "judges": ["distillmos"]}).json()
    assert by_path["mos"]["mos_distillmos"] == pytest.approx(body["mos"]["mos_distillmos"])


def test_folder_job_validates_labelled_clips_and_stores_them(
    server: Server, clips: dict[str, Path], database_url: str
) -> None:
    body = {"path": "folder", "engines": "primary", "store": True, "dataset": "folderjob"}
    response = post(server, "/api/validate/folder", json=body)
    assert response.status_code == 202, response.text
    job = wait_for_job(server, response.json()["id"])
    assert job["status"] == "done" and job["error"] is None, job
    assert job["total"] == 3 and job["done"] == 3
    by_path = {r["path"]: r for r in job["results"]}
    assert by_path["a.wav"]["keep"] is True and by_path["b.wav"]["keep"] is True  # .txt and .lab labels
    assert "MAX_VALIDATE_SECONDS" in by_path["c_long.wav"]["error"]
    assert job["summary"] == {"judged": 2, "kept": 2, "rejected": 0, "errors": 1}
    assert {s["path"] for s in job["skipped"]} == {"d_orphan.txt"}
    assert job["stored_rows"] == 2 and job["store_error"] is None
    stored = rows(database_url, "SELECT path, keep FROM audio_quality WHERE dataset = 'folderjob' ORDER BY path")
    assert stored == [("a.wav", True), ("b.wav", True)]
    run = rows(database_url, "SELECT command, status, dataset FROM runs WHERE run_id = %s", job["run_id"])
    assert run == [("validate", "ok", "folderjob")]


def test_folder_job_limit(server: Server, clips: dict[str, Path]) -> None:
    response = post(server, "/api/validate/folder", json={"path": "folder", "limit": 1, "engines": "primary"})
    job = wait_for_job(server, response.json()["id"])
    assert job["status"] == "done" and job["total"] == 1 and [r["path"] for r in job["results"]] == ["a.wav"]
    assert job["stored_rows"] is None and job["run_id"] is None


def test_a_queued_folder_job_can_be_cancelled(server: Server, clips: dict[str, Path]) -> None:
    body = {"path": "folder", "engines": "primary"}
    running = post(server, "/api/validate/folder", json=body).json()["id"]
    queued = post(server, "/api/validate/folder", json=body).json()["id"]  # waits: one folder job runs at a time
    cancelled = httpx.delete(f"{server.url}/api/jobs/{queued}", headers=server.headers(), timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True
    assert wait_for_job(server, running)["status"] == "done"
    job = wait_for_job(server, queued)
    assert job["status"] == "cancelled" and job["results"] == []


# --- bad input ------------------------------------------------------------------------------------


def wav_bytes(seconds: float, rate: int) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(1).normal(0, 0.01, int(seconds * rate)).astype(np.float32)
    sf.write(buffer, noise, rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"path": "../outside.wav", "text": SPOKEN}, (403, "path_not_allowed")),
        ({"path": "/etc/hostname", "text": SPOKEN}, (403, "path_not_allowed")),
        ({"path": "link.wav", "text": SPOKEN}, (403, "path_not_allowed")),  # a symlink out of the root
        ({"path": "clips/match.txt", "text": SPOKEN}, (415, "not_audio")),
        ({"path": "folder/c_long.wav", "text": SPOKEN}, (413, "too_long")),
        ({"path": "clips/none.wav", "text": SPOKEN}, (404, "not_found")),
        ({"path": "clips/match.wav", "text": SPOKEN, "engines": "fastest"}, (400, "unknown_engine")),
        ({"path": "clips/match.wav", "text": SPOKEN, "dataset": "../x"}, (400, "invalid_dataset")),
        ({"path": "clips/match.wav", "text": SPOKEN, "colour": "red"}, (422, "invalid_request")),
        ({"text": SPOKEN}, (400, "missing_audio")),
    ],
    ids=["traversal", "absolute", "symlink", "not-audio", "too-long", "missing", "engine", "dataset", "extra", "none"],
)
def test_bad_json_requests_get_4xx(server: Server, clips: dict[str, Path], payload: dict, expected: tuple) -> None:
    assert error_of(post(server, "/api/validate", json=payload)) == expected


def test_bad_uploads_get_4xx(server: Server, clips: dict[str, Path]) -> None:
    def send(data: bytes, route: str = "/api/validate", **fields: str) -> tuple[int, str]:
        return error_of(post(server, route, files={"audio": ("x.wav", data, "audio/wav")}, data=fields))

    assert send(b"RIFF\x10\x00\x00\x00WAVEfmt not really a wav", text=SPOKEN) == (415, "not_audio")
    assert send(b"plain text, not audio", "/api/mos") == (415, "not_audio")
    assert send(wav_bytes(MAX_SECONDS + 1, 8000), text=SPOKEN) == (413, "too_long")
    assert send(wav_bytes(MAX_SECONDS + 1, 8000), "/api/mos") == (413, "too_long")
    # Past MAX_VALIDATE_BYTES while the upload is copied, and past the body limit before it is read.
    assert send(wav_bytes(MAX_BYTES / 32000 + 1, 16000), text=SPOKEN) == (413, "too_large")
    assert send(wav_bytes(3 * MAX_BYTES / 32000, 16000), text=SPOKEN) == (413, "too_large")
    assert send(clips["match"].read_bytes(), engines="primary") == (400, "missing_text")
    assert send(clips["match"].read_bytes(), text=SPOKEN, engines="every") == (400, "unknown_engine")
    assert send(clips["match"].read_bytes(), "/api/mos", judges="pesq") == (400, "unknown_judge")


def test_malformed_bodies_get_4xx(server: Server, clips: dict[str, Path]) -> None:
    not_json = post(server, "/api/validate", content=b"path=clips/match.wav")
    assert error_of(not_json) == (400, "invalid_json")
    assert error_of(post(server, "/api/validate", json=["clips/match.wav"])) == (400, "invalid_json")
    wrong_field = post(server, "/api/mos", files={"speech": ("x.wav", clips["match"].read_bytes(), "audio/wav")})
    assert error_of(wrong_field) == (400, "invalid_request")
    both = post(server, "/api/mos", files={"audio": ("x.wav", b"RIFF", "audio/wav")}, data={"path": "clips/match.wav"})
    assert error_of(both) == (400, "invalid_request")


def test_folder_and_job_errors(server: Server, clips: dict[str, Path]) -> None:
    assert error_of(post(server, "/api/validate/folder", json={"path": ".."})) == (403, "path_not_allowed")
    assert error_of(post(server, "/api/validate/folder", json={"path": "clips/match.wav"})) == (400, "not_a_folder")
    assert error_of(post(server, "/api/validate/folder", json={"path": "folder", "engines": "x"})) == (
        400,
        "unknown_engine",
    )
    assert error_of(post(server, "/api/validate/folder", json={"path": "folder", "limit": 0})) == (
        422,
        "invalid_request",
    )
    missing = httpx.get(server.url + "/api/jobs/nope", headers=server.headers(), timeout=10)
    assert error_of(missing) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "route"),
    [("POST", "/api/validate"), ("POST", "/api/validate/folder"), ("POST", "/api/mos"), ("GET", "/api/help")],
)
def test_the_api_key_of_the_tts_routes_guards_every_route(server: Server, method: str, route: str) -> None:
    response = httpx.request(method, server.url + route, json={"path": "clips/match.wav"}, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    wrong = httpx.request(method, server.url + route, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401


def test_folder_labels_are_the_txt_or_else_the_lab_beside_each_wav(tmp_path: Path) -> None:
    from pipeline.sources import discover

    for name, seed in (("a", 1), ("b", 2)):
        noise = np.random.default_rng(seed).normal(0, 0.01, 800).astype(np.float32)
        sf.write(tmp_path / f"{name}.wav", noise, 8000, subtype="PCM_16")
    (tmp_path / "a.lab").write_text("from the lab file", encoding="utf-8")
    (tmp_path / "b.lab").write_text("not this one", encoding="utf-8")
    (tmp_path / "b.txt").write_text("from the txt file", encoding="utf-8")
    (tmp_path / "c.lab").write_text("no audio", encoding="utf-8")
    clips, issues = discover(tmp_path, "labels", tmp_path / ".cache")
    assert {c.path: c.text for c in clips} == {"a.wav": "from the lab file", "b.wav": "from the txt file"}
    assert [(i.path, i.problem) for i in issues] == [("c.lab", "label without a .wav")]
