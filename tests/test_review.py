"""The review app's rules without a browser, on the demo database (tests/helpers/populate.py):
migration 009's decisions (per person, latest wins, effective_keep, export), keyset pages, the
seeded stratified sample, audio only inside known roots, who may call, CSRF, and the statistics
against scipy and the shipped SQL."""

from __future__ import annotations

import base64

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from scipy import stats as scipy_stats

from pipeline.queries import run_query
from pipeline.review import queries as q
from pipeline.review.app import ReviewConfig, create_app
from pipeline.review.audio import AudioRefused, clip_file
from pipeline.review.decisions import (
    Decision,
    DecisionError,
    Rating,
    record_decision,
    record_rating,
    withdraw_decision,
)
from pipeline.review.sampling import rating_sample
from pipeline.review.security import UnsafeBind, basic_user, check_bind
from pipeline.review.stats import correlate

ALICE = "alice-kokoro"


def _one(url: str, statement: str, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchone()


@pytest.fixture(scope="module")
def demo(store, populated, database_url):
    return store, database_url


def _hashes(store, **filters) -> list[str]:
    return [r["file_hash"] for r in q.list_clips(store, q.ClipFilter(ALICE, **filters), limit=1000).rows]


def test_decisions_are_per_person_and_the_latest_wins(demo):
    store, url = demo
    kept = _hashes(store, keep=True)[0]
    assert record_decision(store, Decision(ALICE, kept, "ana", "reject", "mumbles")) is False
    assert record_decision(store, Decision(ALICE, kept, "bob", "approve")) is True  # bob decided last
    assert record_decision(store, Decision(ALICE, kept, "ana", "reject", "still mumbles")) is False
    assert _one(url, "SELECT count(*) FROM reviews WHERE file_hash = %s", (kept,)) == (2,)
    assert _one(url, "SELECT note FROM reviews WHERE reviewer = 'ana' AND file_hash = %s", (kept,)) == (
        "still mumbles",
    )
    withdraw_decision(store, ALICE, kept, "ana")
    assert _one(url, "SELECT human_decision, effective_keep FROM audio_quality WHERE file_hash = %s", (kept,)) == (
        "approve",
        True,
    )
    withdraw_decision(store, ALICE, kept, "bob")
    row = _one(
        url,
        "SELECT human_decision, machine_keep, effective_keep, decided_by FROM clip_decisions WHERE file_hash = %s",
        (kept,),
    )
    assert row == (None, True, True, "machine")
    with pytest.raises(DecisionError, match="decision must be"):
        record_decision(store, Decision(ALICE, kept, "ana", "maybe"))
    with pytest.raises(DecisionError, match="no clip"):
        record_decision(store, Decision(ALICE, "0" * 64, "ana", "approve"))


def test_ratings_upsert_per_rater(demo):
    store, url = demo
    clip = _hashes(store)[0]
    record_rating(store, Rating(ALICE, clip, "ana", 2))
    record_rating(store, Rating(ALICE, clip, "bob", 5))
    record_rating(store, Rating(ALICE, clip, "ana", 3))
    assert _one(url, "SELECT array_agg(mos ORDER BY rater) FROM human_ratings WHERE file_hash = %s", (clip,)) == (
        [3, 5],
    )
    for bad in (0, 6):
        with pytest.raises(DecisionError, match="1 to 5"):
            record_rating(store, Rating(ALICE, clip, "ana", bad))


def test_keyset_pages_cover_the_list_once_in_order(demo):
    store, _ = demo
    for sort in q.ORDERS:
        everything = q.list_clips(store, q.ClipFilter(ALICE), sort=sort, limit=10_000).rows
        seen, cursor = [], None
        while True:
            page = q.list_clips(store, q.ClipFilter(ALICE), sort=sort, limit=7, cursor=cursor)
            seen += page.rows
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [r["file_hash"] for r in seen] == [r["file_hash"] for r in everything], sort
    worst = [r["adjusted_wer"] for r in q.list_clips(store, q.ClipFilter(ALICE), limit=10_000).rows]
    assert worst == sorted(worst, key=lambda v: -1 if v is None else v, reverse=True)
    with pytest.raises(q.BadRequest, match="cursor"):
        q.list_clips(store, q.ClipFilter(ALICE), cursor="bm90IGpzb24")


def test_every_order_walks_its_index_on_a_large_dataset(demo):
    store, url = demo
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO audio_quality (file_hash, dataset, text, book, chapter_index, chunk_index, tier, keep,"
            " adjusted_wer, composite_mos) SELECT md5(g::text), 'synthetic', 'chunk ' || g, 'b' || g % 3, g % 12, g,"
            " 'strict', true, (g % 997) / 997.0, 1 + (g % 401) / 100.0 FROM generate_series(1, 20000) g"
        )
        conn.execute("ANALYZE audio_quality")
    for sort, index in (("worst", "review_worst"), ("mos", "review_mos"), ("book", "review_book")):
        assert "Index Scan" in q.explain_list(store, q.ClipFilter("synthetic"), sort=sort), sort
        assert f"audio_quality_{index}" in q.explain_list(store, q.ClipFilter("synthetic"), sort=sort), sort
        page = q.list_clips(store, q.ClipFilter("synthetic"), sort=sort, limit=50)
        deeper = q.list_clips(store, q.ClipFilter("synthetic"), sort=sort, limit=50, cursor=page.next_cursor)
        assert len(deeper.rows) == 50 and not {r["file_hash"] for r in page.rows} & {
            r["file_hash"] for r in deeper.rows
        }


def test_filters(demo):
    store, _ = demo
    rows = q.list_clips(store, q.ClipFilter(ALICE, verdict="tts_failure"), limit=1000).rows
    assert rows and all(r["n_tts_failure"] for r in rows)
    assert all(r["tier"] == "reject" for r in q.list_clips(store, q.ClipFilter(ALICE, tier="reject"), limit=1000).rows)
    rabbit = q.list_clips(store, q.ClipFilter(ALICE, text="white rabbit"), limit=1000).rows
    assert rabbit and all("white rabbit" in r["text"].lower() for r in rabbit)
    assert q.list_clips(store, q.ClipFilter(ALICE, text="100%_"), limit=10).rows == []  # LIKE wildcards escaped


def test_the_rating_sample_is_seeded_and_stratified(demo):
    store, _ = demo
    first = rating_sample(store, ALICE, n=8, seed=3)
    assert first == rating_sample(store, ALICE, n=8, seed=3)
    assert first != rating_sample(store, ALICE, n=8, seed=4)
    strata = {(s["tier"], s["judges"]) for s in rating_sample(store, ALICE, n=10_000, seed=3)}
    assert {(s["tier"], s["judges"]) for s in rating_sample(store, ALICE, n=len(strata), seed=3)} == strata


def test_audio_is_served_only_inside_known_roots(tmp_path):
    root = tmp_path / "datasets"
    (root / "d").mkdir(parents=True)
    (root / "d" / "a.wav").write_bytes(b"RIFF")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    (root / "d" / "link.wav").symlink_to(outside)
    ok = clip_file({"dataset": "d", "path": "a.wav"}, roots=(root,), datasets_dir=root)
    assert ok == (root / "d" / "a.wav").resolve()
    for path in ("../../secret.wav", str(outside), "link.wav", "/etc/passwd"):
        with pytest.raises(AudioRefused, match="outside"):
            clip_file({"dataset": "d", "path": path}, roots=(root,), datasets_dir=root)
    assert clip_file({"dataset": "d", "path": str(outside)}, roots=(root, tmp_path), datasets_dir=root) == outside
    with pytest.raises(AudioRefused, match="missing"):
        clip_file({"dataset": "d", "path": "gone.wav"}, roots=(root,), datasets_dir=root)


def test_binding_beyond_loopback_needs_a_key():
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    with pytest.raises(UnsafeBind, match="API_KEY"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "k")
    header = "Basic " + base64.b64encode(b"ana:k").decode()
    assert basic_user("k", header) == "ana"
    assert basic_user("other", header) is None


def test_the_app_refuses_cross_site_writes_and_asks_for_the_key(demo, tmp_path):
    store, url = demo
    clip = _hashes(store)[0]
    config = ReviewConfig(store=store, datasets_dir=tmp_path, api_key="sesame")
    client = TestClient(create_app(config))
    assert client.get("/clips").status_code == 401
    assert client.get("/clips").headers["www-authenticate"].startswith("Basic")
    auth = {"Authorization": "Basic " + base64.b64encode(b"carol:sesame").decode()}
    assert client.get("/clips", headers=auth).status_code == 200
    assert client.get("/clips", headers={"Authorization": "Bearer sesame"}).status_code == 200
    form = {"dataset": ALICE, "file_hash": clip, "mos": "4"}
    assert client.post("/api/rating", data=form, headers=auth).status_code == 403  # no CSRF token
    foreign = auth | {"X-CSRF-Token": config.csrf_token, "Origin": "https://evil.example"}
    assert client.post("/api/rating", data=form, headers=foreign).status_code == 403
    good = auth | {"X-CSRF-Token": config.csrf_token, "Origin": "http://testserver"}
    assert client.post("/api/rating", data=form, headers=good).status_code == 200
    assert _one(url, "SELECT mos FROM human_ratings WHERE rater = 'carol' AND file_hash = %s", (clip,)) == (4,)
    assert client.get("/audio", params={"dataset": ALICE, "hash": clip}, headers=auth).status_code == 404  # no file


def test_statistics_match_scipy_and_the_shipped_sql(demo):
    store, url = demo
    rng = np.random.default_rng(0)
    x = rng.normal(3, 0.5, 40)
    y = np.clip(np.round(x + rng.normal(0, 0.6, 40)), 1, 5)
    c = correlate(list(zip(x, y, strict=True)), seed=1)
    assert c.n == 40
    assert c.pearson == pytest.approx(scipy_stats.pearsonr(x, y).statistic)
    assert c.spearman == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert c.spearman_ci[0] < c.spearman < c.spearman_ci[1]
    assert correlate([(1.0, 2.0), (2.0, 3.0), (3.0, 3.5), (4.0, 5.0)]).spearman_ci is None  # too few pairs

    hashes = _hashes(store)[:12]
    for i, h in enumerate(hashes):
        record_rating(store, Rating(ALICE, h, "dora", 1 + (i * 7) % 5))
    pairs = q.rating_pairs(store, ALICE)["composite_mos"]
    sql = {r["judge"]: r for r in run_query("human_calibration", store=store).records() if r["dataset"] == ALICE}
    expected = correlate(pairs)
    assert sql["composite_mos"]["n"] == len(pairs)
    assert sql["composite_mos"]["pearson_r"] == pytest.approx(expected.pearson, abs=1e-3)
    assert sql["composite_mos"]["spearman_rho"] == pytest.approx(expected.spearman, abs=1e-3)


def test_export_keep_follows_people(demo, tmp_path):
    from pipeline.export.selection import select_clips

    store, url = demo
    kept = _hashes(store, keep=True)
    dropped = _hashes(store, keep=False)
    before = {r["file_hash"] for r in select_clips(store, dataset=ALICE, where="keep", columns=None).rows}
    assert before == set(kept) - {h for (h,) in _rows(url, "SELECT file_hash FROM reviews WHERE decision = 'reject'")}
    record_decision(store, Decision(ALICE, kept[0], "eve", "reject"))
    record_decision(store, Decision(ALICE, dropped[0], "eve", "approve"))
    after = {r["file_hash"] for r in select_clips(store, dataset=ALICE, where="keep", columns=None).rows}
    assert after == (before - {kept[0]}) | {dropped[0]}
    strict = {r["file_hash"] for r in select_clips(store, dataset=ALICE, where="tier = 'strict'", columns=None).rows}
    assert kept[0] not in strict  # a person's reject removes the clip from any filtered export


def _rows(url: str, statement: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement).fetchall()


def test_the_command_refuses_a_public_address_without_a_key(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["review", "--host", "0.0.0.0", "--work-dir", str(tmp_path)], env={"API_KEY": ""})
    assert result.exit_code != 0
    assert "API_KEY" in result.output


def test_009_keeps_existing_rows_and_their_keep(tmp_path, pg_server_url):
    import shutil
    import uuid

    from psycopg.conninfo import make_conninfo

    from pipeline.store.migrations import MIGRATIONS_DIR, migrate

    name = f"pipeline_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(pg_server_url, dbname=name)
    try:
        old = tmp_path / "old"
        old.mkdir()
        for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if path.name < "009":
                shutil.copy(path, old / path.name)
        with psycopg.connect(url) as conn:
            migrate(conn, old)
            for k, keep in enumerate((True, False, None)):
                conn.execute(
                    "INSERT INTO audio_quality (file_hash, dataset, text, keep) VALUES (%s, 'old', 'a b', %s)",
                    (f"h{k}", keep),
                )
            conn.commit()
            assert [p for p in migrate(conn) if p.startswith("009")] == ["009_reviews.sql"]
            rows = conn.execute(
                "SELECT file_hash, keep, human_decision, effective_keep FROM audio_quality ORDER BY 1"
            ).fetchall()
            assert rows == [("h0", True, None, True), ("h1", False, None, False), ("h2", None, None, None)]
            assert migrate(conn) == []
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_heal_sees_a_reviewers_decision(demo):
    """Heal decides on ``effective_keep``: a clip a person rejected is one to re-make, one a person
    approved is covered."""
    from pipeline.heal.state import load_clips

    store, _ = demo
    machine = {r.file_hash: r.keep for r in load_clips(store, ALICE)}
    kept = next(h for h, keep in machine.items() if keep)
    dropped = next(h for h, keep in machine.items() if keep is False)
    record_decision(store, Decision(ALICE, kept, "heal-test", "reject"))
    record_decision(store, Decision(ALICE, dropped, "heal-test", "approve"))
    seen = {r.file_hash: r.keep for r in load_clips(store, ALICE)}
    assert seen[kept] is False and seen[dropped] is True
    assert {h: k for h, k in seen.items() if h not in (kept, dropped)} == {
        h: k for h, k in machine.items() if h not in (kept, dropped)
    }
