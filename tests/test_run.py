"""``pipeline run``: generate then validate in one command, with the options of both."""

from __future__ import annotations

import json

import psycopg
from typer.testing import CliRunner

from cli import app

BOOK = """\
CHAPTER I.
The Test

Alice was beginning to get very tired of sitting by her sister on the bank.
There was nothing so very remarkable in that.
"""


def test_run_generates_then_validates_with_the_options_of_both(tmp_path, database_url):
    book = tmp_path / "tiny.txt"
    book.write_text(BOOK, encoding="utf-8")
    work = tmp_path / "work"
    args = [
        "run", "--book", str(book), "--dataset", "tiny", "--voice", "bf_emma", "--workers", "1",
        "--target-seconds", "3", "--engines", "primary", "--primary", "whisper-tiny", "--mos-mode", "none",
        "--work-dir", str(work),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"DATABASE_URL": database_url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "generate summary" in result.output and "validate summary" in result.output

    manifest = [json.loads(line) for line in (work / "datasets" / "tiny" / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) >= 2 and {m["voice"] for m in manifest} == {"bf_emma"}
    logged = (work / "validations" / "tiny.jsonl").read_text().splitlines()
    assert len(logged) == len(manifest), "every generated clip was validated"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT voice, primary_engine, secondary_engine, composite_mos, n_words FROM audio_quality"
            " WHERE dataset = 'tiny'"
        ).fetchall()
        commands = [r[0] for r in conn.execute("SELECT command FROM runs ORDER BY run_id").fetchall()]
    assert len(rows) == len(manifest)
    for voice, primary, secondary, mos, n_words in rows:
        assert voice == "bf_emma"  # generate's --voice
        assert primary == "whisper-tiny" and secondary is None  # validate's --primary and --engines
        assert mos is None  # --mos-mode none
        assert n_words > 0
    assert commands == ["generate", "validate"]


def test_run_refuses_a_bad_choice_before_doing_any_work(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "--book", str(tmp_path / "missing.txt"), "--engines", "all-of-them", "--work-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "all-of-them" in result.output
    assert not (tmp_path / "datasets").exists()
