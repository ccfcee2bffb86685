"""``pipeline review`` in a real browser: Debian's chromium driven by playwright, against the real
server process (``pipeline review`` on a free loopback port) and a real Postgres filled by
``generate`` + ``validate`` (three short Alice chunks, both Whisper engines, DNSMOS).

Covered: the list loads and filters; a clip's <audio> loads with the clip's duration; clicking a
word seeks the player to the word's start; ratings and approve/reject typed in rating mode land in
Postgres, change ``effective_keep`` and the export; two reviewers' ratings of one clip both stay;
the calibration page shows n, Pearson and Spearman of the ratings entered, the same as the
shipped SQL. Screenshots go to a temp dir (``REVIEW_SCREENSHOTS=<dir>`` keeps them elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest
from helpers.processes import base_env, cli, free_port, wait_until

from pipeline.export.run import export_dataset
from pipeline.jobs import GenerateRequest, ValidateRequest, generate, validate
from pipeline.queries import run_query
from pipeline.review.stats import correlate
from pipeline.settings import Settings
from pipeline.store.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET = "alice-review"


# Three short sentences of Alice, chapter 1, one paragraph (and so one chunk) each.
PASSAGE = (
    "There was nothing so very remarkable in that.",
    "Down, down, down. Would the fall never come to an end?",
    "Either the well was very deep, or she fell very slowly.",
)


@pytest.fixture(scope="module")
def filled(tmp_path_factory, database_url):
    """The three short chunks generated and validated into the module's database."""
    work = tmp_path_factory.mktemp("review_work")
    settings = Settings(
        work_dir=work,
        database_url=database_url,
        voices=["af_heart"],
        headings="drop",
        target_seconds=3.0,
        mos_mode="all",
        mos_judges=["dnsmos"],
    )
    book = work / "alice_short.txt"
    book.write_text("CHAPTER I.\n\n" + "\n\n".join(PASSAGE) + "\n", encoding="utf-8")
    generate(GenerateRequest(book=book, dataset=DATASET, chapters="1"), settings)
    validate(ValidateRequest(source=settings.datasets_dir / DATASET, dataset=DATASET, engines="both"), settings)
    return work, database_url


@pytest.fixture(scope="module")
def server(filled, tmp_path_factory):
    work, url = filled
    port = free_port()
    log = tmp_path_factory.mktemp("review_log") / "review.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            cli("review", "--work-dir", str(work), "--port", str(port), "--reviewer", "ana"),
            cwd=REPO_ROOT,
            env=base_env(DATABASE_URL=url),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"review exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            return httpx.get(base + "/clips", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 60, "pipeline review to answer", interval_s=0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("REVIEW_SCREENSHOTS") or tmp_path_factory.mktemp("review_screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"]
        )
        yield browser
        browser.close()


def _rows(url: str, statement: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def _clips(url: str) -> list[tuple]:
    return _rows(
        url,
        "SELECT file_hash, text, duration_s, keep FROM audio_quality WHERE dataset = %s ORDER BY chunk_index",
        (DATASET,),
    )


def test_the_list_loads_and_filters(server, browser, filled, shots):
    _, url = filled
    clips = _clips(url)
    assert len(clips) == 3
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    page.goto(server + "/clips")
    assert page.locator("tr.clip-row").count() == 3
    page.screenshot(path=str(shots / "clips.png"))
    # text search: one word of the second chunk only
    others = f"{clips[0][1]} {clips[2][1]}".lower()
    word = next(w.strip(",.?!") for w in clips[1][1].split() if len(w) >= 4 and w.strip(",.?!").lower() not in others)
    page.fill("#text-filter", word)
    page.click("#apply")
    page.wait_for_url("**text=*")
    assert page.locator("tr.clip-row").count() == 1
    assert page.locator("tr.clip-row").get_attribute("data-hash") == clips[1][0]
    # a filter nothing matches
    page.goto(server + f"/clips?dataset={DATASET}&tier=reject&keep=true")
    assert page.locator("tr.clip-row").count() == 0 and page.locator("#no-clips").is_visible()
    # the book view: every chunk in order, all covered by a kept clip
    page.goto(server + f"/book?dataset={DATASET}")
    kept = sum(1 for c in clips if c[3])
    assert page.locator("#coverage").inner_text() == f"{kept} of 3"
    assert page.locator(".chunk .cell.kept").count() == kept
    assert page.locator(".chunk .cell.dropped").count() == 3 - kept
    page.screenshot(path=str(shots / "book.png"))
    page.close()


def test_the_clip_page_plays_and_seeks(server, browser, filled, shots):
    _, url = filled
    file_hash, _, duration, _ = _clips(url)[1]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server + f"/clip?dataset={DATASET}&hash={file_hash}")
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=15_000)
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(duration, abs=0.05)
    assert page.evaluate("document.getElementById('picture').naturalWidth") > 100  # the PNG rendered
    words = page.locator(".word[data-start]")
    assert words.count() >= 5
    target = words.nth(words.count() // 2)
    start = float(target.get_attribute("data-start"))
    assert start > 0.5
    assert "primary heard" in target.get_attribute("title")
    target.click()
    now = page.evaluate("document.getElementById('player').currentTime")
    assert start - 0.01 <= now <= start + 1.0
    page.evaluate("document.getElementById('player').pause()")
    page.screenshot(path=str(shots / "clip.png"))
    page.close()


def test_ratings_and_decisions_land_in_postgres_and_the_export(server, browser, filled, shots, tmp_path):
    work, url = filled
    clips = _clips(url)
    rejected = [c[0] for c in clips if c[3] is False]
    if not rejected:  # an approval needs a machine rejection to overrule: make one (as low MOS would)
        rejected = [clips[-1][0]]
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE audio_quality SET keep = false WHERE file_hash = %s", (rejected[0],))
    machine_rejected = rejected[0]
    to_reject = next(c[0] for c in clips if c[0] != machine_rejected)
    with psycopg.connect(url) as conn:  # the machine keeps the clip a person will reject
        conn.execute("UPDATE audio_quality SET keep = true WHERE file_hash = %s", (to_reject,))
    untouched = next(c[0] for c in clips if c[0] not in (machine_rejected, to_reject))
    machine_keep = dict(_rows(url, "SELECT file_hash, keep FROM audio_quality WHERE dataset = %s", (DATASET,)))

    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(server + f"/rate?dataset={DATASET}&n=3&seed=7")
    order = []
    mos_for = {}
    for step, mos in enumerate((2, 4, 5)):
        page.wait_for_selector("#rating")
        current = page.locator(".decide").get_attribute("data-hash")
        order.append(current)
        page.keyboard.press(str(mos))
        page.wait_for_selector(f"button.rate.chosen[data-mos='{mos}']")
        mos_for[current] = mos
        if current == machine_rejected:
            page.keyboard.press("a")
            page.wait_for_selector("button.approve.chosen")
        elif current == to_reject:
            page.keyboard.press("r")
            page.wait_for_selector("button.reject.chosen")
        assert page.locator("#rated").inner_text() == str(step + 1)
        if step == 1:
            page.screenshot(path=str(shots / "rate.png"))
        if step < 2:
            page.keyboard.press("n")
            page.wait_for_url(f"**i={step + 1}")
    assert sorted(order) == sorted(c[0] for c in clips)  # the sample covers the three clips, once each
    page.close()

    ratings = dict(_rows(url, "SELECT file_hash, mos FROM human_ratings WHERE rater = 'ana'"))
    assert ratings == mos_for
    decisions = _rows(url, "SELECT file_hash, reviewer, decision FROM reviews ORDER BY decision")
    assert decisions == [(machine_rejected, "ana", "approve"), (to_reject, "ana", "reject")]
    keep = dict(_rows(url, "SELECT file_hash, effective_keep FROM audio_quality WHERE dataset = %s", (DATASET,)))
    assert keep == {to_reject: False, untouched: machine_keep[untouched], machine_rejected: True}
    machine = dict(_rows(url, "SELECT file_hash, decided_by FROM clip_decisions WHERE dataset = %s", (DATASET,)))
    assert machine == {to_reject: "human", untouched: "machine", machine_rejected: "human"}

    report = export_dataset(
        Store(url), dataset=DATASET, where="keep", out_dir=tmp_path / "export", fmt="jsonl", columns=None,
        datasets_dir=work / "datasets",
    )  # fmt: skip
    exported = {
        json.loads(line)["file_hash"]
        for f in (tmp_path / "export").rglob("*.jsonl")
        for line in f.read_text().splitlines()
        if line.strip()
    }
    expected = {machine_rejected} | ({untouched} if machine_keep[untouched] else set())
    assert report.rows == len(expected) and exported == expected

    # A second reviewer rates the same clip: both ratings stay (one row per person).
    bob = browser.new_context()
    page = bob.new_page()
    page.goto(server + "/clips")
    page.fill("#reviewer-name", "bob")
    with page.expect_navigation():  # the page reloads under the new name
        page.click("#reviewer-form button")
    assert page.locator("#reviewer-name").input_value() == "bob"
    page.goto(server + f"/clip?dataset={DATASET}&hash={untouched}")
    page.click("button.rate[data-mos='3']")
    page.wait_for_selector("button.rate.chosen[data-mos='3']")
    bob.close()
    both = _rows(url, "SELECT rater, mos FROM human_ratings WHERE file_hash = %s ORDER BY rater", (untouched,))
    assert both == [("ana", mos_for[untouched]), ("bob", 3)]


def test_the_calibration_page_shows_the_ratings_statistics(server, browser, filled, shots):
    _, url = filled
    pairs = _rows(
        url,
        "SELECT q.mos_dnsmos_ovrl, avg(h.mos)::float8 FROM audio_quality q"
        " JOIN human_ratings h USING (file_hash, dataset) WHERE q.dataset = %s GROUP BY q.file_hash, q.mos_dnsmos_ovrl",
        (DATASET,),
    )
    assert len(pairs) == 3, "the previous test rated the three clips"
    expected = correlate([(float(a), b) for a, b in pairs])
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(server + f"/calibration?dataset={DATASET}")
    judge = page.locator("figure.judge[data-judge='dnsmos_ovrl']")
    assert judge.locator(".n").inner_text() == "3"
    assert float(judge.locator(".pearson").inner_text()) == pytest.approx(expected.pearson, abs=1e-3)
    assert float(judge.locator(".spearman").inner_text()) == pytest.approx(expected.spearman, abs=1e-3)
    assert judge.locator("circle.point").count() == 3
    assert judge.locator(".no-ci").is_visible()  # 3 clips are too few for a bootstrap interval
    sql = {r["judge"]: r for r in run_query("human_calibration", store=Store(url)).records()}["dnsmos_ovrl"]
    assert sql["n"] == 3 and sql["pearson_r"] == pytest.approx(expected.pearson, abs=1e-3)
    assert sql["spearman_rho"] == pytest.approx(expected.spearman, abs=1e-3)
    # machine keep vs people: one approve the machine had rejected, one reject the machine had kept
    assert page.locator("#agreement .reviewed").inner_text() == "2"
    assert page.locator("#agreement .precision").inner_text() == "0"
    page.screenshot(path=str(shots / "calibration.png"), full_page=True)
    page.close()
