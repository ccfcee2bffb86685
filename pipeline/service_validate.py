"""The validator HTTP API on the ``serve`` app: validate a clip against its label, a folder as a
background job, or score audio without a label.

Routes (same API key as the TTS routes; errors are ``{"error": {"message", "type", "code"}}``):

* ``POST /api/validate``: multipart (``audio`` file + ``text`` and options as form fields), or
  JSON ``{"path": ..., "text": ...}`` with ``path`` under ``VALIDATE_ROOT`` (``text`` defaults to
  the ``.txt``/``.lab`` beside it). Options: ``engines`` (primary|secondary|both|cascade),
  ``detail`` (word rows), ``include_mos``, ``store`` (upsert the row into Postgres, as
  ``pipeline validate`` does), ``dataset`` (row label, default ``api``).
* ``POST /api/validate/folder``: JSON ``{"path", "limit", ...}`` -> 202 ``{"id"}``; labels from
  the folder's manifest or ``.txt``/``.lab`` sidecars (``pipeline.sources``).
* ``GET /api/jobs/{id}`` (status and results so far), ``DELETE /api/jobs/{id}`` (cancel).
* ``POST /api/mos``: audio only (upload or path) -> MOS judges + signal metrics.
* ``GET /api/help``: these routes and their parameters as JSON.

Models load on first use and stay loaded (``ResidentValidator``); every model call holds one
lock, so one model runs at a time, on the process's ``ASR_DEVICE`` / ``MOS_DEVICE`` settings.
Knobs: ``VALIDATE_ROOT``, ``MAX_VALIDATE_SECONDS``, ``MAX_VALIDATE_BYTES``. Example::

    curl -s localhost:8000/api/validate -F audio=@clip.wav -F text='Hello there.' -F detail=true
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.choices import EngineMode
from pipeline.files import sha256_file
from pipeline.jobs.errors import JobError
from pipeline.jobs.validator import ResidentValidator, result_json
from pipeline.names import check_dataset_name, dataset_name_from
from pipeline.records import ClipResult, ClipSource
from pipeline.service_audio_inputs import (
    ApiError,
    allowed_path,
    check_audio,
    clean_text,
    label_beside,
    move_into,
    save_upload,
)
from pipeline.service_guard import error_body
from pipeline.service_jobs import JobGate, run_in_thread_exclusively
from pipeline.service_validate_jobs import FolderJob, FolderJobs
from pipeline.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_FIELDS = ("audio", "file")  # the multipart field that carries the audio
FOLDER_CHUNK = 4  # clips validated per hold of the model lock
FOLDER_JOBS_WAITING = 8
MULTIPART_SLACK = 256 * 1024  # form fields and part headers beside the audio
DEFAULT_DATASET = "api"


def install_validator(app: FastAPI, settings: Settings) -> None:
    """Add the validator routes to the serve app, with the body limit of its upload routes
    (``RequestGuard`` reads ``app.state.body_limits``)."""
    message = f"request body too large (audio is limited to {settings.max_validate_bytes} bytes: MAX_VALIDATE_BYTES)"
    limit = (settings.max_validate_bytes + MULTIPART_SLACK, message)
    app.state.body_limits = {**getattr(app.state, "body_limits", {}), "/api/validate": limit, "/api/mos": limit}
    app.include_router(validator_router(settings))


# --- request bodies ---------------------------------------------------------------------------


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClipOptions(_Options):
    path: str | None = None
    text: str | None = None
    engines: str = EngineMode.cascade.value
    detail: bool = False
    include_mos: bool = False
    store: bool = False
    dataset: str = DEFAULT_DATASET


class FolderOptions(_Options):
    path: str
    limit: int | None = Field(None, ge=1)
    engines: str = EngineMode.cascade.value
    detail: bool = False
    include_mos: bool = False
    store: bool = False
    dataset: str | None = None  # default: the folder's name


class MosOptions(_Options):
    path: str | None = None
    judges: list[str] | None = None  # a subset of MOS_JUDGES (default: all configured)

    @field_validator("judges", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # a form field: "dnsmos,distillmos"
            return [name for name in value.split(",") if name.strip()]
        return value


def _engines(value: str) -> EngineMode:
    try:
        return EngineMode(value)
    except ValueError:
        choices = ", ".join(e.value for e in EngineMode)
        raise ApiError(400, f"unknown engines {value!r}; choose from {choices}", "unknown_engine") from None


def _dataset(value: str) -> str:
    try:
        return check_dataset_name(value)
    except ValueError as exc:
        raise ApiError(400, str(exc), "invalid_dataset") from exc


# --- the host: models, lock, admission, jobs --------------------------------------------------


def busy() -> ApiError:
    return ApiError(503, "validator busy: too many requests waiting, retry later", "busy", {"Retry-After": "1"})


class ValidatorHost:
    """The resident validator of this process, the lock every model call holds, the admission
    gates of single requests and folder jobs, and the folder jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.validator = ResidentValidator(settings)
        self.requests = JobGate(1, settings.queue_maxsize, busy)
        self.folder_gate = JobGate(1, FOLDER_JOBS_WAITING, busy)
        self.jobs = FolderJobs()
        self._lock: asyncio.Lock | None = None  # created in the server's event loop
        self._store: Any = None

    async def exclusively(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func`` in a worker thread while holding the model lock (one model call at a time)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        try:
            return await run_in_thread_exclusively(
                self._lock, threading.Event(), functools.partial(func, *args, **kwargs)
            )
        except JobError as exc:
            raise ApiError(500, str(exc), "validator_error") from exc

    async def admitted(self, work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """``await work()`` once the request gate lets it run (503 when too many wait)."""
        ticket = self.requests.admit()
        outcome = "failed"
        try:
            await ticket.start()
            value = await work()
            outcome = "completed"
            return value
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            ticket.finish(outcome)  # type: ignore[arg-type]

    async def stop_jobs(self, timeout_s: float = 60.0) -> None:
        """Cancel the running and queued folder jobs and wait for them to wind down."""
        tasks = set(self.jobs.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    def store(self) -> Any:
        from pipeline.store.store import Store

        if self._store is None:
            self._store = Store.from_settings(self.settings)
        return self._store

    def save_results(self, results: list[ClipResult], dataset: str) -> int:
        """The rows of ``results`` into the validations log and the database (``validate``'s
        row builder); raises ``StoreUnavailable`` (the log keeps them for ``pipeline db sync``)."""
        from pipeline.store.results_log import ResultsLog
        from pipeline.store.rows import validation_entry
        from pipeline.store.store import write_validation_entries

        results_log = ResultsLog(self.settings.work_dir / "validations" / f"{dataset}.jsonl")
        for result in results:
            results_log.append(result)
        return write_validation_entries(self.store(), [validation_entry(r) for r in results])


# --- reading a request ------------------------------------------------------------------------


class AudioRequest:
    """The options of a request and its audio: an upload saved to a temp folder, or a file under
    the allowed root. ``close()`` removes the temp folder."""

    def __init__(self, options: Any, upload: UploadFile | None) -> None:
        self.options = options
        self.upload = upload
        self.tmp: Path | None = None
        self.audio: Path | None = None
        self.file_hash = ""
        self.duration_s = 0.0
        self.sample_rate = 0

    async def load(self, settings: Settings) -> None:
        """Save or locate the audio and check it (413 too large or too long, 415 not audio)."""
        given = getattr(self.options, "path", None)
        if self.upload is None and given is None:
            raise ApiError(400, "no audio: send a multipart `audio` file or a JSON `path`", "missing_audio")
        if self.upload is not None and given is not None:
            raise ApiError(400, "send either an `audio` file or a `path`, not both", "invalid_request")
        if self.upload is not None:
            self.tmp = Path(tempfile.mkdtemp(prefix="validate-"))
            suffix = Path(self.upload.filename or "").suffix.lower()[:8] or ".wav"
            self.audio = self.tmp / f"upload{suffix}"
            self.file_hash = await asyncio.to_thread(
                save_upload, self.upload.file, self.audio, settings.max_validate_bytes
            )
            facts = check_audio(self.audio, settings.max_validate_seconds, name=self.name)
        else:
            assert given is not None
            self.audio = allowed_path(settings.validate_root, given, want="file")
            facts = check_audio(
                self.audio, settings.max_validate_seconds, name=given, max_bytes=settings.max_validate_bytes
            )
            self.file_hash = await asyncio.to_thread(sha256_file, self.audio)
        self.duration_s, self.sample_rate = facts.duration_s, facts.sample_rate

    @property
    def name(self) -> str:
        """The clip's path as reported: the file under the root, or the upload's file name."""
        if self.upload is not None:
            return Path(self.upload.filename or "upload.wav").name
        return str(self.audio)

    def keep_upload(self, folder: Path) -> None:
        """Move the uploaded audio to ``folder/<sha256><suffix>`` (rows stored from it point there)."""
        assert self.audio is not None
        self.audio = move_into(self.audio, folder, f"{self.file_hash}{self.audio.suffix}")

    def close(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


async def read_request(request: Request, model: type[_Options]) -> tuple[Any, UploadFile | None, Any]:
    """(options, uploaded audio or None, the form to close) from a multipart or a JSON body."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        try:
            return (*_form_options(form, model), form)
        except ApiError:
            await form.close()
            raise
    return _options(await _json_object(request), model), None, None


def _form_options(form: Any, model: type[_Options]) -> tuple[Any, UploadFile | None]:
    upload: UploadFile | None = None
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key not in UPLOAD_FIELDS:
                raise ApiError(400, f"unexpected file field {key!r}; send the audio as `audio`", "invalid_request")
            upload = value
        else:
            fields[key] = value
    return _options(fields, model), upload


async def _json_object(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    try:
        raw = await request.json()
    except ValueError as exc:
        message = f"expected a JSON object or a multipart form (content-type {content_type!r}): {exc}"
        raise ApiError(400, message, "invalid_json") from exc
    if not isinstance(raw, dict):
        raise ApiError(400, "the JSON body must be an object", "invalid_json")
    return raw


def _options(raw: dict[str, Any], model: type[_Options]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, details, "invalid_request") from exc


# --- routes -----------------------------------------------------------------------------------


class JsonErrorRoute(APIRoute):
    """Answers an ``ApiError`` as the service's JSON error body, and an unexpected error as a 500
    of the same shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.payload(), status_code=exc.status, headers=exc.headers)
            except StarletteHTTPException:  # the app's handlers answer these (e.g. the body limit's 413)
                raise
            except Exception as exc:  # a model that fails to load or run: said as JSON, logged in full
                log.exception("%s %s failed", request.method, request.url.path)
                message = f"validator failed: {type(exc).__name__}: {exc}"
                return JSONResponse(error_body(message, "internal_error"), status_code=500)

        return route


def validator_router(settings: Settings) -> APIRouter:
    """The validator API's routes over one ``ValidatorHost`` (its models load on first use)."""
    host = ValidatorHost(settings)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:  # shutdown: running folder jobs stop (after their current chunk), models are freed
            await host.stop_jobs()
            host.validator.close()

    router = APIRouter(route_class=JsonErrorRoute, lifespan=lifespan)

    @router.post("/api/validate")
    async def validate(request: Request) -> Response:
        options, upload, form = await read_request(request, ClipOptions)
        clip_request = AudioRequest(options, upload)
        try:
            engines = _engines(options.engines)
            dataset = _dataset(options.dataset)
            await clip_request.load(settings)
            text = clean_text(options.text, settings.max_input_chars)
            if text is None and upload is None:
                text = label_beside(clip_request.audio)  # type: ignore[arg-type]
            if text is None:
                raise ApiError(
                    400, "a label is needed: send `text` (POST /api/mos scores audio without one)", "missing_text"
                )
            if options.store and upload is not None:
                clip_request.keep_upload(settings.work_dir / "validate_uploads" / dataset)
            name = str(clip_request.audio) if options.store else clip_request.name
            clip = ClipSource(clip_request.file_hash, dataset, str(clip_request.audio), name, text)
            started = time.perf_counter()
            results = await host.admitted(
                lambda: host.exclusively(
                    host.validator.validate, [clip], engines=engines, include_mos=options.include_mos
                )
            )
            body = {
                **result_json(results[0], detail=options.detail),
                "engines": _engine_view(host, engines),
                "wall_s": round(time.perf_counter() - started, 3),
                "stored": False,
            }
            if options.store:
                body["stored"] = await _store(host, results, dataset, body)
            return JSONResponse(body)
        finally:
            clip_request.close()
            if form is not None:
                await form.close()

    @router.post("/api/mos")
    async def mos(request: Request) -> Response:
        options, upload, form = await read_request(request, MosOptions)
        clip_request = AudioRequest(options, upload)
        try:
            only = _judge_names(settings, options.judges)
            await clip_request.load(settings)
            started = time.perf_counter()
            report = await host.admitted(lambda: host.exclusively(host.validator.score_mos, clip_request.audio, only))
            return JSONResponse(
                {
                    "file_hash": clip_request.file_hash,
                    "path": clip_request.name,
                    "duration_s": round(clip_request.duration_s, 3),
                    "sample_rate": clip_request.sample_rate,
                    **asdict(report),
                    "wall_s": round(time.perf_counter() - started, 3),
                }
            )
        finally:
            clip_request.close()
            if form is not None:
                await form.close()

    @router.post("/api/validate/folder", status_code=202)
    async def validate_folder(request: Request) -> Response:
        options, upload, form = await read_request(request, FolderOptions)
        if form is not None:
            await form.close()
        if upload is not None:
            raise ApiError(400, "a folder job reads a folder by `path`; it takes no upload", "invalid_request")
        engines = _engines(options.engines)
        folder = allowed_path(settings.validate_root, options.path, want="dir")
        dataset = _dataset(options.dataset) if options.dataset else dataset_name_from(folder.name)
        job = host.jobs.add(
            folder=folder,
            dataset=dataset,
            engines=engines.value,
            limit=options.limit,
            detail=options.detail,
            include_mos=options.include_mos,
            store=options.store,
            ticket=host.folder_gate.admit(),
        )
        task = asyncio.ensure_future(_run_folder_job(host, job))
        host.jobs.tasks.add(task)
        task.add_done_callback(host.jobs.tasks.discard)
        return JSONResponse({"id": job.id, "status": job.status, "url": f"/api/jobs/{job.id}"}, status_code=202)

    @router.get("/api/jobs/{job_id}")
    async def job_status(job_id: str) -> dict[str, Any]:
        return _job(host, job_id).view()

    @router.delete("/api/jobs/{job_id}")
    async def job_cancel(job_id: str) -> dict[str, Any]:
        job = _job(host, job_id)
        job.cancel.set()
        return {"id": job.id, "status": job.status, "cancel_requested": True}

    @router.get("/api/help")
    async def help_() -> dict[str, Any]:
        return api_help(settings, host)

    return router


def _job(host: ValidatorHost, job_id: str) -> FolderJob:
    job = host.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r} (jobs live in the server's memory)", "not_found")
    return job


def _judge_names(settings: Settings, names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    wanted = [name.strip().lower() for name in names]
    configured = [name.strip().lower() for name in settings.mos_judges]
    unknown = [name for name in wanted if name not in configured]
    if unknown:
        message = f"unknown MOS judge(s) {', '.join(unknown)}; this server runs {', '.join(configured)}"
        raise ApiError(400, message, "unknown_judge")
    return wanted


def _engine_view(host: ValidatorHost, engines: EngineMode) -> dict[str, Any]:
    names = host.validator.engine_names()
    return {
        "mode": engines.value,
        "primary": names["primary"] if engines != EngineMode.secondary else None,
        "secondary": names["secondary"] if engines != EngineMode.primary else None,
        "loaded": host.validator.loaded(),
    }


async def _store(host: ValidatorHost, results: list[ClipResult], dataset: str, body: dict[str, Any]) -> bool:
    """Upsert the rows; a database that is down is a 503 whose body still carries the result."""
    from pipeline.store.connection import StoreUnavailable

    try:
        await asyncio.to_thread(host.save_results, results, dataset)
    except StoreUnavailable as exc:
        message = f"{exc}; the result is kept in the validations log (`pipeline db sync` stores it later)"
        raise _ResultWithError(ApiError(503, message, "database_unavailable"), body) from exc
    return True


class _ResultWithError(ApiError):
    """An error whose JSON body also carries the computed result (nothing computed is lost)."""

    def __init__(self, error: ApiError, result: dict[str, Any]) -> None:
        super().__init__(error.status, error.message, error.code, error.headers)
        self.result = result

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "result": self.result}


async def _run_folder_job(host: ValidatorHost, job: FolderJob) -> None:
    """Discover the folder's clips, validate them a chunk at a time (each chunk under the model
    lock), store each chunk's rows when asked, until done or cancelled."""
    from pipeline.sources import discover

    settings = host.settings
    sink = None
    outcome = "failed"
    try:
        await job.ticket.start()
        job.status, job.started_at = "running", time.time()
        cache = settings.work_dir / "validate_cache" / job.dataset
        clips, issues = await asyncio.to_thread(discover, job.folder, job.dataset, cache)
        clips = clips[: job.limit] if job.limit else clips
        job.total = len(clips)
        job.skipped = [{"path": i.path, "problem": i.problem} for i in issues]
        if job.store:
            sink = await asyncio.to_thread(_open_sink, settings, job)
        started = time.perf_counter()
        all_results: list[ClipResult] = []
        for start in range(0, len(clips), FOLDER_CHUNK):
            if job.cancel.is_set():
                break
            ready = []
            for clip in clips[start : start + FOLDER_CHUNK]:
                try:
                    check_audio(Path(clip.audio_path), settings.max_validate_seconds, name=clip.path)
                    ready.append(clip)
                except ApiError as exc:
                    job.results.append(
                        {"file_hash": clip.file_hash, "path": clip.path, "keep": None, "error": exc.message}
                    )
            if not ready:
                continue
            results = await host.exclusively(
                host.validator.validate, ready, engines=job.engines, include_mos=job.include_mos
            )
            if sink is not None:
                await asyncio.to_thread(_write_chunk, sink, settings, job, results)
            all_results += results
            job.results += [result_json(r, detail=job.detail) for r in results]
        if sink is not None:
            await asyncio.to_thread(_close_sink, sink, all_results, time.perf_counter() - started)
        outcome = "cancelled" if job.cancel.is_set() else "completed"
        job.finish("cancelled" if job.cancel.is_set() else "done")
    except asyncio.CancelledError:
        job.finish("cancelled", "the server shut down")
        outcome = "cancelled"
        raise
    except Exception as exc:  # the job's status says what went wrong; the server goes on
        log.exception("folder job %s failed", job.id)
        job.finish("failed", exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}")
    finally:
        job.ticket.finish(outcome)  # type: ignore[arg-type]


def _open_sink(settings: Settings, job: FolderJob) -> Any:
    from pipeline.jobs.plumbing import start_run_or_warn
    from pipeline.jobs.reporting import LogReporter
    from pipeline.store.store import ValidationSink

    args = {"engines": job.engines, "source": str(job.folder), "limit": job.limit, "via": "api"}
    store, run_id = start_run_or_warn(settings, "validate", args, job.dataset, "the validations log", LogReporter())
    job.run_id = run_id
    if store is None:
        job.store_error = "database unreachable; results are kept in the validations log"
        return None
    return ValidationSink(store, run_id)


def _write_chunk(sink: Any, settings: Settings, job: FolderJob, results: list[ClipResult]) -> None:
    from pipeline.store.results_log import ResultsLog

    results_log = ResultsLog(settings.work_dir / "validations" / f"{job.dataset}.jsonl")
    for result in results:
        results_log.append(result)
    sink.write_validation(results)
    job.stored_rows, job.store_error = sink.rows, sink.error


def _close_sink(sink: Any, results: list[ClipResult], wall_s: float) -> None:
    from pipeline.jobs.validate import ValidateReport

    sink.finish(ValidateReport(results=results, wall_s=wall_s))


def api_help(settings: Settings, host: ValidatorHost) -> dict[str, Any]:
    """The validator routes and their parameters (``GET /api/help``)."""
    engines = [e.value for e in EngineMode]
    clip_options = {
        "engines": f"one of {engines} (default cascade)",
        "detail": "true: include the word rows (audio_words) (default false)",
        "include_mos": "true: run the MOS judges on the clip (default false)",
        "store": "true: upsert the row into Postgres, as `pipeline validate` does (default false)",
        "dataset": f"row label (default {DEFAULT_DATASET!r}; letters, digits, '.', '_', '-')",
    }
    return {
        "auth": "Authorization: Bearer <API_KEY> when the server has one (same key as the TTS routes)",
        "errors": '{"error": {"message", "type", "code"}} with a 4xx/5xx status',
        "limits": {
            "validate_root": str(settings.validate_root) if settings.validate_root else None,
            "max_validate_seconds": settings.max_validate_seconds,
            "max_validate_bytes": settings.max_validate_bytes,
        },
        "engines": host.validator.engine_names(),
        "mos_judges": list(settings.mos_judges),
        "loaded_models": host.validator.loaded(),
        "routes": [
            {
                "method": "POST",
                "path": "/api/validate",
                "body": "multipart: `audio` file + fields; or JSON with `path` under validate_root",
                "parameters": {
                    "audio": "the clip (multipart upload; wav/flac/ogg/mp3)",
                    "path": "a file under validate_root (JSON), instead of `audio`",
                    "text": "the label (for `path`: defaults to the .txt/.lab beside the file)",
                    **clip_options,
                },
                "returns": "keep, tier, reject_reasons, error, row (audio_quality columns), words (detail)",
            },
            {
                "method": "POST",
                "path": "/api/validate/folder",
                "body": "JSON",
                "parameters": {
                    "path": "a folder under validate_root: wav + .txt/.lab pairs, a dataset dir or manifest",
                    "limit": "validate at most this many clips (default all)",
                    **{**clip_options, "dataset": "row label (default: the folder's name)"},
                },
                "returns": "202 {id, status, url}: poll GET /api/jobs/{id}",
            },
            {
                "method": "GET",
                "path": "/api/jobs/{id}",
                "returns": "status (queued|running|done|failed|cancelled), total, done, summary, results",
            },
            {"method": "DELETE", "path": "/api/jobs/{id}", "returns": "cancels the job after its current chunk"},
            {
                "method": "POST",
                "path": "/api/mos",
                "body": "multipart `audio` file, or JSON with `path` under validate_root",
                "parameters": {"judges": "a subset of mos_judges (list, or comma-separated in a form)"},
                "returns": "mos (per-judge scores, composite_mos), signal (signal metrics), skipped judges",
            },
            {"method": "GET", "path": "/api/help", "returns": "this description"},
        ],
    }
