"""``pipeline db``: migrate, sync manifests, show the URL, stop the embedded server."""

from __future__ import annotations

import typer

from pipeline.commands import options as opt
from pipeline.commands.common import fail, out, settings_with, setup_logging

db_app = typer.Typer(help="The Postgres store (DATABASE_URL, or the embedded server under <work>/pgdata).")


def open_store(settings):
    from pipeline.store.connection import StoreUnavailable
    from pipeline.store.store import Store

    try:
        return Store.from_settings(settings)
    except StoreUnavailable as exc:
        fail(str(exc))


@db_app.command()
def migrate() -> None:
    """Apply pending schema migrations from sql/migrations."""
    setup_logging()
    from pipeline.store.connection import StoreUnavailable

    store = open_store(settings_with())
    try:
        applied = store.migrate()
    except StoreUnavailable as exc:
        fail(str(exc))
    out.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@db_app.command()
def sync(
    dataset: opt.DatasetFilter = None,
    work_dir: opt.WorkDir = None,
) -> None:
    """Upsert what manifests and validation logs hold (after the database was down during a run)."""
    setup_logging()
    from pipeline.store.connection import StoreUnavailable
    from pipeline.store.store import sync_manifests, sync_validations

    settings = settings_with(work_dir=work_dir)
    store = open_store(settings)
    try:
        generated = sync_manifests(store, settings.datasets_dir, dataset)
        validated = sync_validations(store, settings.work_dir / "validations", dataset)
    except (StoreUnavailable, ValueError) as exc:  # ValueError: a bad manifest line, named
        fail(str(exc))
    if not generated and not validated:
        out.print(f"nothing to sync under {settings.work_dir}")
    for name, rows in generated.items():
        out.print(f"{name}: {rows} generated clips upserted")
    for name, rows in validated.items():
        out.print(f"{name}: {rows} validated clips upserted (with their words)")


@db_app.command()
def url() -> None:
    """Print the database URL (starts the embedded server if needed): psql "$(pipeline db url)"."""
    setup_logging()
    out.print(open_store(settings_with()).url, soft_wrap=True)


@db_app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL server (no-op when DATABASE_URL is set)."""
    setup_logging()
    from pipeline.store.connection import stop_embedded

    settings = settings_with()
    if settings.database_url:
        out.print("DATABASE_URL is set; nothing embedded to stop")
        return
    out.print("stopped" if stop_embedded(settings.work_dir / "pgdata") else "not running")
