"""The shipped SQL (sql/queries, sql/migrations/002_views.sql), ``pipeline query`` and
``pipeline report``, on a real Postgres filled with the demo datasets (tests/helpers/populate.py)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import statistics
import uuid

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.queries import UnknownQuery, get_query, list_queries, run_query, run_sql
from pipeline.store.columns import VERDICT_NAMES

REQUIRED = {
    "pass_rate",
    "verdict_breakdown",
    "worst_files",
    "tiers",
    "failing_words",
    "mos_by_voice",
    "judge_correlation",
    "dataset_comparison",
}
runner = CliRunner()


def sql(store, statement: str, params=None):
    return run_sql(statement, params, store=store)


# --- the query files ------------------------------------------------------------------------


def test_query_files_are_described_and_required_ones_ship() -> None:
    queries = list_queries()
    assert REQUIRED <= {q.name for q in queries}
    for query in queries:
        assert query.sql.startswith("-- "), f"{query.path.name} must start with a '-- ' description"
        assert len(query.description) > 20, query.name
        body = "\n".join(line for line in query.sql.splitlines() if not line.lstrip().startswith("--"))
        assert body.strip().rstrip(";").count(";") == 0, f"{query.name}: one statement per file"


def test_unknown_query_names_the_known_ones() -> None:
    with pytest.raises(UnknownQuery) as info:
        get_query("no_such_query")
    assert "pass_rate" in str(info.value) and "no_such_query" in str(info.value)
    with pytest.raises(UnknownQuery):
        get_query("../migrations/001_init")


def test_every_query_runs_and_returns_rows(store, populated) -> None:
    for query in list_queries():
        result = run_query(query.name, store=store)
        assert result.columns, query.name
        assert result.rows, f"{query.name} returned nothing on the demo data"
        assert "dataset" in result.columns, f"{query.name}: reports filter on a dataset column"
        assert all(len(row) == len(result.columns) for row in result.rows)


# --- results against direct counts ------------------------------------------------------------


def test_demo_data_is_consistent(store, populated) -> None:
    counts = "+".join(f"COALESCE(n_{v}, 0)" for v in VERDICT_NAMES)
    per_file = sql(
        store,
        f"SELECT q.file_hash, {counts}, COALESCE(q.n_words + q.n_insertions, 0), count(w.word_index)"
        " FROM audio_quality q LEFT JOIN audio_words w USING (file_hash, dataset) GROUP BY q.file_hash, q.dataset",
    )
    assert len(per_file.rows) == populated["files"] == 120
    for _, verdict_total, words_and_insertions, word_rows in per_file.rows:
        assert verdict_total == words_and_insertions == word_rows
    assert store.count("audio_words") == populated["words"]


def test_pass_rate_matches_a_direct_count(store, populated) -> None:
    result = run_query("pass_rate", store=store)
    assert [r["dataset"] for r in result.records()] == sorted(populated["datasets"])
    for row in result.records():
        expected = populated["datasets"][row["dataset"]]
        assert 0.0 <= row["keep_rate"] <= 1.0
        assert (row["files"], row["validated"], row["kept"]) == (
            expected["files"],
            expected["validated"],
            expected["kept"],
        )
        direct = sql(
            store,
            "SELECT count(*) FILTER (WHERE keep)::float8 / count(keep), avg(adjusted_wer)"
            " FROM audio_quality WHERE dataset = %(d)s",
            {"d": row["dataset"]},
        ).rows[0]
        assert row["keep_rate"] == pytest.approx(direct[0], abs=1e-4)
        assert row["mean_adjusted_wer"] == pytest.approx(direct[1], abs=1e-4)
        assert 0.0 <= row["mean_adjusted_wer"] <= row["mean_primary_wer"] < 0.5
        assert row["hours"] == pytest.approx(expected["hours"], abs=2e-3)
        assert 0 < row["kept_hours"] <= row["hours"]
    foreign = result.where(dataset="foreign-libritts").records()[0]
    assert foreign["errors"] == 1 and foreign["validated"] == foreign["files"] - 1


def test_verdict_breakdown_adds_up_to_the_word_table(store, populated) -> None:
    result = run_query("verdict_breakdown", store=store)
    assert sum(result.column("words")) == store.count("audio_words") == populated["words"]
    assert set(result.column("verdict")) <= set(VERDICT_NAMES)
    for dataset in populated["datasets"]:
        rows = result.where(dataset=dataset).records()
        assert sum(r["pct"] for r in rows) == pytest.approx(100.0, abs=0.1)
        assert rows[0]["verdict"] == "pass"  # most words pass
        by_verdict = {r["verdict"]: r["words"] for r in rows}
        assert by_verdict.get("tts_failure", 0) == populated["datasets"][dataset]["tts_failure"]
        assert by_verdict.get("ambiguous", 0) == populated["datasets"][dataset]["ambiguous"]


def test_worst_files_are_ranked_by_adjusted_wer(store, populated) -> None:
    result = run_query("worst_files", store=store)
    for dataset in populated["datasets"]:
        rows = result.where(dataset=dataset).records()
        assert 0 < len(rows) <= 20
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        wers = [r["adjusted_wer"] for r in rows]
        assert wers == sorted(wers, reverse=True)
        top = sql(store, "SELECT max(adjusted_wer) FROM audio_quality WHERE dataset = %(d)s", {"d": dataset})
        assert wers[0] == pytest.approx(top.rows[0][0])
        assert all(r["path"] and r["text"] for r in rows)
        assert rows[0]["n_tts_failure"] + rows[0]["n_ambiguous"] + rows[0]["n_unverified"] > 0


def test_tiers_cover_every_file_once(store, populated) -> None:
    result = run_query("tiers", store=store)
    order = ["strict", "balanced", "permissive", "reject", "(not validated)"]
    for dataset, expected in populated["datasets"].items():
        rows = result.where(dataset=dataset).records()
        assert sum(r["files"] for r in rows) == expected["files"]
        tiers = {r["tier"]: r["files"] for r in rows if r["tier"] in expected["tiers"]}
        assert tiers == expected["tiers"]
        assert [r["tier"] for r in rows] == [t for t in order if t in {r["tier"] for r in rows}]
        cumulative = [r["cumulative_hours"] for r in rows]
        assert cumulative == sorted(cumulative)
        assert cumulative[-1] == pytest.approx(expected["hours"], abs=2e-3)
        assert all(r["kept"] <= r["files"] and r["kept_hours"] <= r["hours"] + 1e-9 for r in rows)


def test_failing_words_find_the_hard_words(store, populated) -> None:
    from helpers.populate import HARD_WORDS

    result = run_query("failing_words", store=store)
    rows = result.records()
    assert all(r["tts_failure"] + r["ambiguous"] > 0 and 0 < r["fail_rate"] <= 1 for r in rows)
    assert sum(result.column("tts_failure")) == sum(d["tts_failure"] for d in populated["datasets"].values())
    top = [r["norm_word"] for r in result.where(dataset="alice-kokoro").records()[:3]]
    assert set(top) & set(HARD_WORDS), top
    assert all(r["heard_as"] for r in rows)


def test_mos_by_voice(store, populated) -> None:
    result = run_query("mos_by_voice", store=store)
    alice = result.where(dataset="alice-kokoro").records()
    assert sorted(r["voice"] for r in alice) == populated["datasets"]["alice-kokoro"]["voices"]
    assert result.where(dataset="foreign-libritts").column("voice") == ["(none)"]
    for row in result.records():
        assert 1.0 <= row["composite_mos"] <= 5.0 and 0.0 <= row["keep_rate"] <= 1.0
    composite = [r["composite_mos"] for r in alice]
    assert composite == sorted(composite, reverse=True)
    assert alice[0]["voice"] == "af_heart"  # the demo's best voice
    assert all(r["utmosv2"] is not None for r in alice)
    assert sum(result.column("files")) == populated["files"]


def test_judge_correlation(store, populated) -> None:
    result = run_query("judge_correlation", store=store)
    rows = result.records()
    assert rows
    for row in rows:
        assert -1.0 <= row["pearson_r"] <= 1.0 and row["n"] >= 3
    pairs = {(r["dataset"], r["metric_a"], r["metric_b"]): r for r in rows}
    for dataset in populated["datasets"]:
        assert pairs[(dataset, "dnsmos_ovrl", "distillmos")]["pearson_r"] > 0.3  # judges agree
        assert pairs[(dataset, "composite_mos", "adjusted_wer")]["pearson_r"] < 0  # failures sound worse
    assert ("alice-kokoro", "distillmos", "utmosv2") in pairs
    assert ("foreign-libritts", "distillmos", "utmosv2") not in pairs  # UTMOSv2 never ran there

    raw = sql(store, "SELECT mos_dnsmos_ovrl, mos_distillmos FROM audio_quality WHERE dataset = 'alice-kokoro'")
    expected = statistics.correlation([float(a) for a, _ in raw.rows], [float(b) for _, b in raw.rows])
    assert pairs[("alice-kokoro", "dnsmos_ovrl", "distillmos")]["pearson_r"] == pytest.approx(expected, abs=1e-3)


def test_dataset_comparison_agrees_with_pass_rate(store, populated) -> None:
    comparison = {r["dataset"]: r for r in run_query("dataset_comparison", store=store).records()}
    assert set(comparison) == set(populated["datasets"])
    for row in run_query("pass_rate", store=store).records():
        other = comparison[row["dataset"]]
        assert other["files"] == row["files"]
        assert other["keep_rate"] == pytest.approx(row["keep_rate"])
        assert other["kept_hours"] == pytest.approx(row["kept_hours"])
        assert 0 <= other["escalation_rate"] <= 1 and other["tts_failures_per_1k_words"] > 0
    assert comparison["alice-kokoro"]["voices"] == 3
    assert comparison["foreign-libritts"]["primary_engines"] == "parakeet"


def test_signal_outliers_say_why(store, populated) -> None:
    rows = run_query("signal_outliers", store=store).records()
    assert rows and all(r["problems"] for r in rows)
    clipped = sql(store, "SELECT count(*) FROM audio_quality WHERE clipping_pct > 0.1").rows[0][0]
    assert sum("clipping" in r["problems"] for r in rows) == clipped


def test_views(store, populated) -> None:
    assert sql(store, "SELECT count(*) FROM clip_summary").rows[0][0] == populated["files"]
    failures = sql(store, "SELECT count(*) FROM word_failures").rows[0][0]
    flagged = sql(store, "SELECT sum(n_tts_failure + n_ambiguous + n_unverified) FROM audio_quality").rows[0][0]
    assert failures == flagged > 0


# --- pipeline query ----------------------------------------------------------------------------


def invoke(database_url: str, *args: str):
    return runner.invoke(app, list(args), env={"DATABASE_URL": database_url}, catch_exceptions=False)


def test_cli_query_table(database_url, populated) -> None:
    result = invoke(database_url, "query", "pass_rate")
    assert result.exit_code == 0, result.output
    assert "alice-kokoro" in result.output and "foreign-libritts" in result.output
    assert "keep_rate" in result.output


def test_cli_query_csv(database_url, populated) -> None:
    result = invoke(database_url, "query", "tiers", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sum(int(r["files"]) for r in rows) == populated["files"]
    assert {r["dataset"] for r in rows} == set(populated["datasets"])


def test_cli_query_json(database_url, populated) -> None:
    result = invoke(database_url, "query", "judge_correlation", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and all(-1 <= r["pearson_r"] <= 1 for r in rows)
    one = invoke(database_url, "query", "pass_rate", "--format", "json", "--dataset", "alice-kokoro")
    assert [r["dataset"] for r in json.loads(one.stdout)] == ["alice-kokoro"]


def test_cli_query_list_and_unknown(database_url) -> None:
    listed = invoke(database_url, "query", "--list")
    assert listed.exit_code == 0
    for name in REQUIRED:
        assert name in listed.output
    unknown = invoke(database_url, "query", "no_such_query")
    assert unknown.exit_code == 2
    assert "unknown query 'no_such_query'" in unknown.output and "pass_rate" in unknown.output
    assert "Traceback" not in unknown.output
    assert invoke(database_url, "query").exit_code == 2


# --- pipeline report ---------------------------------------------------------------------------


def test_report_writes_html_with_plots(database_url, populated, tmp_path) -> None:
    target = tmp_path / "out" / "report.html"
    result = invoke(database_url, "report", "--html", str(target))
    assert result.exit_code == 0, result.output
    assert "pass rate per dataset" in result.output and "worst files" in result.output
    document = target.read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)
    assert len(images) >= 4
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    for section in ("WER distribution", "MOS distribution", "Verdict breakdown", "Per-voice comparison"):
        assert section in document
    assert "alice-kokoro" in document and "foreign-libritts" in document
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # no temp file left


def test_report_one_dataset_default_path(database_url, populated, tmp_path) -> None:
    result = invoke(database_url, "report", "--dataset", "foreign-libritts", "--work-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    document = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
    assert "foreign-libritts" in document and "alice-kokoro" not in document
    missing = invoke(database_url, "report", "--dataset", "nope", "--work-dir", str(tmp_path))
    assert missing.exit_code == 1 and "alice-kokoro" in missing.output


@pytest.fixture()
def empty_database_url(pg_server_url):
    from psycopg.conninfo import make_conninfo

    name = f"pipeline_test_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(pg_server_url, dbname=name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_empty_database_says_so(empty_database_url, tmp_path) -> None:
    table = invoke(empty_database_url, "query", "pass_rate")
    assert table.exit_code == 0 and "no rows" in table.output and "pipeline validate" in table.output
    assert json.loads(invoke(empty_database_url, "query", "worst_files", "-f", "json").stdout) == []
    assert invoke(empty_database_url, "query", "tiers", "-f", "csv").stdout.startswith("dataset,tier,")
    report = invoke(empty_database_url, "report", "--work-dir", str(tmp_path))
    assert report.exit_code == 1
    assert "no clips" in report.output and "Traceback" not in report.output
    assert not (tmp_path / "reports").exists()


def test_numbers_come_back_as_floats(store, populated) -> None:
    value = run_query("pass_rate", store=store).records()[0]["keep_rate"]
    assert isinstance(value, float) and math.isfinite(value)
