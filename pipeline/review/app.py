"""The review app's routes: server-rendered pages (Jinja2) and three small JSON writes.

Pages: ``/clips`` (filtered, sorted, keyset-paginated list), ``/clip`` (player, picture, words,
scores, reasons, people's decisions), ``/book`` (chunks in order, coverage), ``/rate`` (the
keyboard-driven rating sample), ``/calibration`` (judges against people). Writes:
``POST /api/review``, ``POST /api/rating``, ``POST /api/reviewer`` (see pipeline/review/security.py
for who may call them).

Example::

    app = create_app(ReviewConfig(store=Store(url), datasets_dir=Path("work/datasets")))
    uvicorn.run(app, host="127.0.0.1", port=8010)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pipeline.queries import run_query
from pipeline.review import queries as q
from pipeline.review.audio import AudioRefused, clip_file, waveform_png
from pipeline.review.decisions import Decision, DecisionError, Rating, record_decision, record_rating
from pipeline.review.sampling import decided_by, rated_by, rating_sample
from pipeline.review.security import AuthGuard, csrf_ok, new_csrf_token
from pipeline.review.stats import MIN_PAIRS_FOR_CI, correlate, scatter_svg

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
REVIEWER_COOKIE = "pipeline_reviewer"
MAX_GRID_CLIPS = 5000  # a book with more clips shows its grid one chapter at a time
CHOICES_TTL_S = 60.0  # the list's drop-down values (DISTINCT over the dataset) are reread at most this often
SIGNAL_COLUMNS = (
    "duration_s", "rms_db", "peak_amplitude", "clipping_pct", "silence_pct", "dynamic_range_db",
    "spectral_centroid_hz", "speaker_similarity",
)  # fmt: skip
MOS_COLUMNS = (
    "composite_mos", "mos_dnsmos_ovrl", "mos_dnsmos_sig", "mos_dnsmos_bak", "mos_dnsmos_p808", "mos_distillmos",
    "mos_utmosv2", "mos_scoreq_synthetic", "mos_scoreq_natural", "mos_nisqa",
)  # fmt: skip
ASR_COLUMNS = ("primary_engine", "primary_text", "primary_wer", "secondary_engine", "secondary_text", "secondary_wer")


@dataclass(frozen=True)
class ReviewConfig:
    store: Any
    datasets_dir: Path
    roots: tuple[Path, ...] = ()  # more folders audio may be served from (foreign data validated in place)
    dataset: str | None = None  # the dataset pages open on
    reviewer: str = "reviewer"  # name used until the person sets theirs (or the basic-auth user)
    api_key: str | None = None
    seed: int = 0
    csrf_token: str = field(default_factory=new_csrf_token)

    @property
    def audio_roots(self) -> tuple[Path, ...]:
        return (self.datasets_dir, *self.roots)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "–"
    return str(value)


def create_app(config: ReviewConfig) -> FastAPI:
    app = FastAPI(title="pipeline review", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["fmt"] = _fmt
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    store = config.store
    choices_cache: dict[str, tuple[float, dict]] = {}

    def choices_for(dataset: str) -> dict:
        cached = choices_cache.get(dataset)
        if cached is None or time.monotonic() - cached[0] > CHOICES_TTL_S:
            cached = choices_cache[dataset] = (time.monotonic(), q.filter_choices(store, dataset))
        return cached[1]

    def reviewer(request: Request) -> str:
        state = request.scope.get("state") or {}
        return state.get("reviewer") or request.cookies.get(REVIEWER_COOKIE) or config.reviewer

    def dataset_of(request: Request, given: str | None) -> str:
        if given:
            return given
        if config.dataset:
            return config.dataset
        known = q.datasets(store)
        if not known:
            raise HTTPException(404, "the database holds no clips yet: `pipeline generate` and `pipeline validate`")
        return known[0]

    def page(request: Request, name: str, **context: Any) -> Response:
        context |= {"csrf_token": config.csrf_token, "reviewer": reviewer(request)}
        return templates.TemplateResponse(request, name, context)

    def require_csrf(request: Request) -> None:
        if not csrf_ok(request.headers, config.csrf_token, str(request.base_url)):
            raise HTTPException(403, "cross-site request refused (missing CSRF token or foreign Origin)")

    @app.exception_handler(q.BadRequest)
    async def bad_request(request: Request, exc: q.BadRequest) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(DecisionError)
    async def bad_decision(request: Request, exc: DecisionError) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/clips", status_code=303)

    @app.get("/clips")
    def clips(
        request: Request,
        dataset: str | None = None,
        book: str | None = None,
        chapter: str | None = None,
        voice: str | None = None,
        tier: str | None = None,
        keep: str | None = None,
        decision: str | None = None,
        verdict: str | None = None,
        reason: str | None = None,
        text: str | None = None,
        sort: str = "worst",
        cursor: str | None = None,
    ) -> Response:
        name = dataset_of(request, dataset)
        if chapter not in (None, "") and not chapter.lstrip("-").isdigit():
            raise q.BadRequest(f"chapter must be a number, not {chapter!r}")
        filters = q.ClipFilter(
            dataset=name,
            book=book or None,
            chapter=int(chapter) if chapter not in (None, "") else None,
            voice=voice or None,
            tier=tier or None,
            keep={"true": True, "false": False}.get(keep or ""),
            decision=decision or None,
            verdict=verdict or None,
            reason=reason or None,
            text=(text or "").strip() or None,
        )
        result = q.list_clips(store, filters, sort=sort, limit=PAGE_SIZE, cursor=cursor or None)
        return page(
            request,
            "clips.html",
            filters=filters,
            params=filters.as_params() | {"sort": sort},
            sort=sort,
            orders=q.ORDERS,
            choices=choices_for(name),
            rows=result.rows,
            next_cursor=result.next_cursor,
            first_page=not cursor,
        )

    @app.get("/clip")
    def clip(request: Request, dataset: str, hash: str) -> Response:  # noqa: A002 - the URL's name
        row = q.clip_row(store, dataset, hash)
        if row is None:
            raise HTTPException(404, f"no clip {hash[:16]} in dataset {dataset!r}")
        words = q.clip_words(store, dataset, hash, row.get("word_times"))
        reviews, ratings = q.clip_people(store, dataset, hash)
        me = reviewer(request)
        return page(
            request,
            "clip.html",
            row=row,
            words=words,
            reviews=reviews,
            ratings=ratings,
            my_decision=next((r["decision"] for r in reviews if r["reviewer"] == me), None),
            my_rating=next((r["mos"] for r in ratings if r["rater"] == me), None),
            mos_columns=[c for c in MOS_COLUMNS if row.get(c) is not None],
            signal_columns=[c for c in SIGNAL_COLUMNS if c in row],
            asr_columns=ASR_COLUMNS,
            attempts=row.get("attempt"),
        )

    def wav_of(dataset: str, file_hash: str):
        """The clip's file, only inside the known roots (404 otherwise)."""
        row = q.clip_row(store, dataset, file_hash)
        if row is None:
            raise HTTPException(404, "no such clip")
        try:
            return clip_file(row, roots=config.audio_roots, datasets_dir=config.datasets_dir)
        except AudioRefused as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.get("/audio")
    def audio(dataset: str, hash: str) -> Response:  # noqa: A002
        return FileResponse(wav_of(dataset, hash), media_type="audio/wav")

    @app.get("/picture")
    def picture(dataset: str, hash: str) -> Response:  # noqa: A002
        png = waveform_png(wav_of(dataset, hash))
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/book")
    def book(
        request: Request, dataset: str | None = None, book: str | None = None, chapter: int | None = None
    ) -> Response:
        name = dataset_of(request, dataset)
        all_books = q.books(store, name)
        chosen = book if book is not None else (all_books[0]["book"] if all_books else None)
        summary = q.book_chapters(store, name, chosen)
        if chapter is None and sum(c["clips"] for c in summary) > MAX_GRID_CLIPS and summary:
            chapter = summary[0]["chapter"]  # a very large book: one chapter's grid at a time
        chapters: dict[Any, dict[Any, list[dict]]] = {}
        for r in q.book_chunks(store, name, chosen, chapter):
            chapters.setdefault(r["chapter_index"], {}).setdefault(r["chunk_index"], []).append(r)
        return page(
            request, "book.html", dataset=name, books=all_books, book=chosen, chapters=chapters, summary=summary,
            chapter=chapter, covered=sum(c["covered"] for c in summary), total=sum(c["chunks"] for c in summary),
        )  # fmt: skip

    @app.get("/rate")
    def rate(
        request: Request, dataset: str | None = None, n: int = 20, seed: int | None = None, i: int = 0
    ) -> Response:
        name = dataset_of(request, dataset)
        n = max(1, min(n, 1000))
        seed = config.seed if seed is None else seed
        sample = rating_sample(store, name, n=n, seed=seed)
        if not sample:
            raise HTTPException(404, f"dataset {name!r} has no validated clips to rate")
        i = max(0, min(i, len(sample) - 1))
        hashes = [s["file_hash"] for s in sample]
        me = reviewer(request)
        mine = rated_by(store, name, me, hashes)
        decisions = decided_by(store, name, me, hashes)
        current = sample[i]
        row = q.clip_row(store, name, current["file_hash"])
        words = q.clip_words(store, name, current["file_hash"], row.get("word_times"))
        return page(
            request, "rate.html", dataset=name, sample=sample, i=i, n=n, seed=seed, row=row, words=words,
            rated=len(mine), my_rating=mine.get(current["file_hash"]), my_decision=decisions.get(current["file_hash"]),
            stratum=current,
        )  # fmt: skip

    @app.get("/calibration")
    def calibration(request: Request, dataset: str | None = None) -> Response:
        name = dataset_of(request, dataset)
        pairs = q.rating_pairs(store, name)
        sql_rows = {
            r["judge"]: r for r in run_query("human_calibration", store=store).records() if r["dataset"] == name
        }
        judges = []
        for judge, values in pairs.items():
            judges.append(
                {
                    "judge": judge,
                    "stats": correlate(values, seed=config.seed),
                    "sql": sql_rows.get(judge),
                    "svg": scatter_svg(values, title=judge),
                }
            )
        agreement = [r for r in run_query("human_agreement", store=store).records() if r["dataset"] == name]
        return page(
            request, "calibration.html", dataset=name, judges=judges, agreement=agreement, min_pairs=MIN_PAIRS_FOR_CI
        )

    @app.post("/api/review")
    def post_review(
        request: Request,
        dataset: str = Form(...),
        file_hash: str = Form(...),
        decision: str = Form(...),
        note: str | None = Form(None),
    ) -> Response:
        require_csrf(request)
        kept = record_decision(store, Decision(dataset, file_hash, reviewer(request), decision, note))
        return JSONResponse({"decision": decision, "effective_keep": kept})

    @app.post("/api/rating")
    def post_rating(
        request: Request, dataset: str = Form(...), file_hash: str = Form(...), mos: int = Form(...)
    ) -> Response:
        require_csrf(request)
        record_rating(store, Rating(dataset, file_hash, reviewer(request), mos))
        return JSONResponse({"mos": mos})

    @app.post("/api/reviewer")
    def post_reviewer(request: Request, name: str = Form(...)) -> Response:
        require_csrf(request)
        name = name.strip()
        if not 0 < len(name) <= 80:
            raise DecisionError("a reviewer name of 1 to 80 characters is required")
        response = JSONResponse({"reviewer": name})
        response.set_cookie(REVIEWER_COOKIE, name, max_age=365 * 86400, samesite="strict", httponly=True)
        return response

    app.add_middleware(AuthGuard, api_key=config.api_key)
    return app
