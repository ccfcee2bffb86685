"""``pipeline query NAME`` (the shipped SQL in sql/queries) and ``pipeline report`` (terminal + HTML).

Examples::

    pipeline query --list
    pipeline query pass_rate
    pipeline query worst_files --format csv > worst.csv
    pipeline report --dataset alice-kokoro --html reports/alice.html
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipeline.commands import options as opt
from pipeline.commands.common import console, fail, out, settings_with, setup_logging
from pipeline.files import write_text_atomic
from pipeline.queries import QueryResult, UnknownQuery, format_value, get_query, list_queries, run_query, run_sql
from pipeline.report import ReportData, collect_report, render_html

EMPTY_HINT = "the database holds no clips yet: `pipeline generate` and `pipeline validate` fill it"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


# --- formatting ------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def result_table(result: QueryResult, title: str | None = None, *, max_rows: int | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in result.columns:
        table.add_column(column, overflow="fold", max_width=60 if column in {"text", "path"} else None)
    for row in result.rows[:max_rows]:
        table.add_row(*(format_value(v) for v in row))
    return table


def print_result(result: QueryResult, title: str | None = None) -> None:
    """A result as a table; piped output gets the table's natural width instead of 80 columns."""
    table = result_table(result, title)
    if out.is_terminal:
        out.print(table)
        return
    widths = [
        max([len(c), *(min(len(format_value(row[i])), 60) for row in result.rows)])
        for i, c in enumerate(result.columns)
    ]
    Console(width=max(min(sum(widths) + 3 * len(widths) + 1, 400), 40)).print(table)


def to_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else format_value(v) if isinstance(v, (bool, list)) else v for v in row])
    return buffer.getvalue()


def to_json(result: QueryResult) -> str:
    return json.dumps(result.records(), default=_json_default, indent=2)


def _store():
    from pipeline.commands.db import open_store

    return open_store(settings_with())


# --- pipeline query --------------------------------------------------------------------------


def query(
    name: Annotated[str | None, typer.Argument(help="A shipped query (see --list).", show_default=False)] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    list_all: Annotated[bool, typer.Option("--list", help="List the shipped queries and exit.")] = False,
    dataset: opt.DatasetFilter = None,
) -> None:
    """Run a named SQL query from sql/queries (pass_rate, worst_files, tiers, ...)."""
    setup_logging()
    if list_all:
        table = Table(title="shipped queries (sql/queries)", title_justify="left")
        table.add_column("name")
        table.add_column("description", overflow="fold")
        for q in list_queries():
            table.add_row(q.name, q.description)
        out.print(table)
        return
    known = ", ".join(q.name for q in list_queries())
    if name is None:
        fail(f"give a query NAME, or --list; known: {known}")
    try:
        get_query(name)
    except UnknownQuery as exc:
        fail(str(exc))

    import psycopg

    from pipeline.store.connection import StoreUnavailable

    store = _store()
    try:
        result = run_query(name, store=store)
        empty = not result.rows and store.count() == 0
    except StoreUnavailable as exc:
        fail(str(exc))
    except psycopg.Error as exc:
        fail(f"query {name} failed: {str(exc).strip()}", code=1)
    if dataset is not None:
        if "dataset" not in result.columns:
            fail(f"query {name} has no dataset column to filter on")
        result = result.where(dataset=dataset)

    if fmt is OutputFormat.csv:
        typer.echo(to_csv(result), nl=False)
    elif fmt is OutputFormat.json:
        typer.echo(to_json(result))
    else:
        if not result.rows:
            console.print(f"[yellow]{name}: no rows[/]" + (f" ({EMPTY_HINT})" if empty else ""))
            return
        print_result(result, f"{name}: {get_query(name).description}")


# --- pipeline report -------------------------------------------------------------------------


def print_summary(data: ReportData, top: int) -> None:
    r = data.results
    print_result(r["pass_rate"], "pass rate per dataset")
    print_result(r["tiers"], "threshold tiers")
    print_result(r["reject_reasons"], "reject reasons (clips not kept)")
    print_result(r["verdict_breakdown"], "verdict breakdown (audio_words)")
    print_result(r["mos_by_voice"], "MOS by voice")
    print_result(r["clip_checks"], "G2P audit and clip checks")
    print_result(r["speaker_similarity"], "speaker similarity by voice")
    worst = r["worst_files"]
    keep = ("dataset", "rank", "path", "adjusted_wer", "primary_wer", "n_tts_failure", "n_ambiguous", "text")
    worst = QueryResult(
        worst.name, keep, [tuple(rec[c] for c in keep) for rec in worst.records() if rec["rank"] <= top]
    )
    print_result(worst, f"worst files (top {top} per dataset)")


def report(
    dataset: opt.DatasetFilter = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="HTML report path (default <work>/reports/report.html).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Worst files shown per dataset in the terminal.")] = 10,
    work_dir: opt.WorkDir = None,
) -> None:
    """Summarize the store in the terminal and write an HTML report with plots."""
    setup_logging()
    import psycopg

    from pipeline.commands.db import open_store
    from pipeline.store.connection import StoreUnavailable

    settings = settings_with(work_dir=work_dir)
    store = open_store(settings)
    known: list[str] = []
    try:
        data = collect_report(store, dataset)
        if not data.clips.rows:
            known = run_sql("SELECT DISTINCT dataset FROM audio_quality ORDER BY 1", store=store).column("dataset")
    except StoreUnavailable as exc:
        fail(str(exc))
    except psycopg.Error as exc:
        fail(f"report query failed: {str(exc).strip()}", code=1)
    if not data.clips.rows:
        if dataset is not None and known:
            fail(f"no clips in dataset {dataset!r}; datasets: {', '.join(known)}", code=1)
        fail(EMPTY_HINT, code=1)

    print_summary(data, top)
    target = html_path or settings.work_dir / "reports" / "report.html"
    with console.status("plotting ..."):
        document = render_html(data)
    write_text_atomic(target, document)
    out.print(f"HTML report: {target}")
