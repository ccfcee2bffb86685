"""``pipeline doctor``, ``assets`` and ``db`` through the real CLI."""

from __future__ import annotations

from typer.testing import CliRunner

from cli import app
from pipeline.doctor import run_checks
from pipeline.settings import Settings

runner = CliRunner()


def test_doctor_reports_every_component_without_crashing(database_url):
    checks = {c.component: c for c in run_checks(Settings(database_url=database_url))}
    assert checks["kokoro assets"].ok, checks["kokoro assets"].detail
    assert "sha256 verified" in checks["kokoro assets"].detail
    assert checks["G2P"].ok, checks["G2P"].detail
    taggers = checks["G2P heteronym taggers"]
    assert taggers.ok and taggers.detail.count("ɹˈid") == 2 and "gruut" in taggers.detail
    assert "perfects parsed: read" in taggers.detail
    assert checks["database"].ok and "PostgreSQL" in checks["database"].detail
    # The torch backend's default weights: rebuilt from the int8 ONNX by `pipeline assets`.
    torch_weights = checks["kokoro torch weights"]
    assert torch_weights.ok and "rebuilt from the int8 ONNX" in torch_weights.detail, torch_weights.detail
    result = runner.invoke(app, ["doctor"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0 and "onnxruntime" in result.output


def test_doctor_names_an_unreachable_database():
    checks = {c.component: c for c in run_checks(Settings(database_url="postgresql://x@127.0.0.1:1/none"))}
    assert not checks["database"].ok and "Error" in checks["database"].detail


def test_assets_command_is_idempotent():
    for _ in range(2):
        result = runner.invoke(app, ["assets"])
        assert result.exit_code == 0, result.output
        assert "54 packs" in result.output


def test_db_migrate_and_url(database_url):
    env = {"DATABASE_URL": database_url}
    first = runner.invoke(app, ["db", "migrate"], env=env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["db", "migrate"], env=env)
    assert "up to date" in again.output
    url = runner.invoke(app, ["db", "url"], env=env)
    assert url.output.strip() == database_url


def test_db_commands_fail_clearly_when_unreachable():
    result = runner.invoke(app, ["db", "migrate"], env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/none"})
    assert result.exit_code == 2
    assert "cannot connect" in result.output and "Traceback" not in result.output
