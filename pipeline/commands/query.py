"""``pipeline query NAME`` (the shipped SQL in sql/queries) and ``pipeline report`` (terminal + HTML).

Examples::

    pipeline query --list
    pipeline query pass_rate
    pipeline query worst_files --format csv > worst.csv
    pipeline report --dataset alice-kokoro --html reports/alice.html
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipeline.commands.common import console, fail, out, settings_with, setup_logging
from pipeline.files import write_text_atomic
from pipeline.queries import QueryResult, UnknownQuery, get_query, list_queries, run_query, run_sql

EMPTY_HINT = "the database holds no clips yet: `pipeline generate` and `pipeline validate` fill it"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


# --- formatting ------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "; ".join(format_value(v) for v in value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


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
    dataset: Annotated[str | None, typer.Option(help="Only rows of this dataset.")] = None,
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

SUMMARY_QUERIES = ("pass_rate", "tiers", "verdict_breakdown", "mos_by_voice", "worst_files", "failing_words")
SUMMARY_QUERIES += ("judge_correlation", "dataset_comparison", "signal_outliers")
CLIPS_SQL = """
SELECT dataset, voice, duration_s, primary_wer, adjusted_wer, composite_mos,
       mos_dnsmos_ovrl, mos_distillmos, mos_utmosv2, tier, keep
FROM clip_summary
WHERE %(dataset)s::text IS NULL OR dataset = %(dataset)s
ORDER BY dataset, file_hash
"""
TIER_ORDER = ("strict", "balanced", "permissive", "reject")


@dataclass(frozen=True, slots=True)
class ReportData:
    dataset: str | None
    clips: QueryResult
    results: dict[str, QueryResult]

    @property
    def datasets(self) -> list[str]:
        return sorted(set(self.clips.column("dataset")))


def collect_report(store, dataset: str | None = None) -> ReportData:
    clips = run_sql(CLIPS_SQL, {"dataset": dataset}, store=store, name="clips")
    results = {}
    for name in SUMMARY_QUERIES:
        result = run_query(name, store=store)
        results[name] = result.where(dataset=dataset) if dataset is not None else result
    return ReportData(dataset, clips, results)


def print_summary(data: ReportData, top: int) -> None:
    r = data.results
    print_result(r["pass_rate"], "pass rate per dataset")
    print_result(r["tiers"], "threshold tiers")
    print_result(r["verdict_breakdown"], "verdict breakdown (audio_words)")
    print_result(r["mos_by_voice"], "MOS by voice")
    worst = r["worst_files"]
    keep = ("dataset", "rank", "path", "adjusted_wer", "primary_wer", "n_tts_failure", "n_ambiguous", "text")
    worst = QueryResult(
        worst.name, keep, [tuple(rec[c] for c in keep) for rec in worst.records() if rec["rank"] <= top]
    )
    print_result(worst, f"worst files (top {top} per dataset)")


# --- plots -------------------------------------------------------------------------------------


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _by_dataset(clips: QueryResult, column: str, scale: float = 1.0) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for rec in clips.records():
        if rec[column] is not None:
            values.setdefault(rec["dataset"], []).append(rec[column] * scale)
    return values


def plot_wer(clips: QueryResult) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, column, label in zip(axes, ("primary_wer", "adjusted_wer"), ("primary WER", "adjusted WER"), strict=True):
        values = _by_dataset(clips, column, 100)
        for name, series in values.items():
            ax.hist(series, bins=20, alpha=0.55, label=f"{name} (n={len(series)})")
        ax.set_xlabel(f"{label} (%)")
        ax.set_ylabel("files")
        ax.set_title(f"{label} per file")
        if values:
            ax.legend(fontsize=8)
    return _png(fig)


def plot_mos(clips: QueryResult) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    values = _by_dataset(clips, "composite_mos")
    for name, series in values.items():
        axes[0].hist(series, bins=20, alpha=0.55, label=f"{name} (n={len(series)})")
    axes[0].set_title("composite MOS per file")
    axes[0].set_xlabel("MOS")
    axes[0].set_ylabel("files")
    judges = {"DNSMOS ovrl": "mos_dnsmos_ovrl", "DistillMOS": "mos_distillmos", "UTMOSv2": "mos_utmosv2"}
    present = {label: [v for vs in _by_dataset(clips, col).values() for v in vs] for label, col in judges.items()}
    present = {label: vs for label, vs in present.items() if vs}
    if present:
        axes[1].boxplot(list(present.values()))
        axes[1].set_xticks(range(1, len(present) + 1), list(present))
    axes[1].set_title("score per judge (all datasets)")
    axes[1].set_ylabel("MOS")
    if values:
        axes[0].legend(fontsize=8)
    return _png(fig)


def plot_verdicts(breakdown: QueryResult) -> str:
    import matplotlib.pyplot as plt

    records = breakdown.records()
    datasets = sorted({r["dataset"] for r in records})
    verdicts = sorted({r["verdict"] for r in records if r["verdict"] != "pass"})
    fig, ax = plt.subplots(figsize=(10, min(8.0, 0.2 * max(len(verdicts), 3) * max(len(datasets), 1) + 1.4)))
    height = 0.8 / max(len(datasets), 1)
    for i, name in enumerate(datasets):
        share = {r["verdict"]: r["pct"] for r in records if r["dataset"] == name}
        passed = share.get("pass") or 0.0
        ax.barh(
            [y + i * height for y in range(len(verdicts))],
            [share.get(v) or 0.0 for v in verdicts],
            height,
            label=f"{name} (pass {passed:.1f} %)",
        )
    ax.set_yticks([y + height * (len(datasets) - 1) / 2 for y in range(len(verdicts))], verdicts)
    ax.invert_yaxis()
    ax.set_xlabel("share of the dataset's words (%)")
    ax.set_title("verdicts other than pass")
    if datasets:
        ax.legend(fontsize=8)
    return _png(fig)


def plot_voices(by_voice: QueryResult) -> str:
    import matplotlib.pyplot as plt

    records = by_voice.records()
    labels = [f"{r['dataset']}\n{r['voice']}" for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2 + 0.1 * len(labels)))
    mos = [r["composite_mos"] or 0.0 for r in records]
    axes[0].barh(labels, mos, xerr=[r["composite_sd"] or 0.0 for r in records], color="tab:blue")
    axes[0].set_xlabel("composite MOS (mean, +- sd)")
    axes[0].set_xlim(1, 5)
    axes[1].barh(labels, [100 * (r["mean_adjusted_wer"] or 0.0) for r in records], color="tab:red")
    axes[1].set_xlabel("mean adjusted WER (%)")
    axes[1].set_yticks([])
    for ax in axes:
        ax.invert_yaxis()
    fig.suptitle("per voice")
    return _png(fig)


def plot_tiers(tiers: QueryResult) -> str:
    import matplotlib.pyplot as plt

    records = tiers.records()
    datasets = sorted({r["dataset"] for r in records})
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.6 * len(datasets)))
    left = [0.0] * len(datasets)
    for tier in (*TIER_ORDER, "(not validated)"):
        hours = [sum(r["hours"] or 0.0 for r in records if r["dataset"] == d and r["tier"] == tier) for d in datasets]
        if any(hours):
            ax.barh(datasets, hours, left=left, label=tier)
            left = [a + b for a, b in zip(left, hours, strict=True)]
    ax.set_xlabel("hours")
    ax.set_title("hours per tier")
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.6 / (1 + len(datasets))))
    return _png(fig)


# --- HTML --------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
.desc { color: #666; font-size: 0.9em; }
"""


def html_table(result: QueryResult, max_rows: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in result.columns)
    body = []
    for row in result.rows[:max_rows]:
        cells = "".join(
            f'<td class="num">{html.escape(format_value(v))}</td>'
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f"<td>{html.escape(format_value(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(result.columns)}">(no rows)</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(data: ReportData) -> str:
    import matplotlib

    matplotlib.use("Agg")
    r = data.results
    plots = {
        "WER distribution": plot_wer(data.clips),
        "MOS distribution": plot_mos(data.clips),
        "Verdict breakdown": plot_verdicts(r["verdict_breakdown"]),
        "Per-voice comparison": plot_voices(r["mos_by_voice"]),
        "Tiers": plot_tiers(r["tiers"]),
    }
    scope = f"dataset {data.dataset}" if data.dataset else f"datasets: {', '.join(data.datasets)}"
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>pipeline report ({html.escape(scope)})</title><style>{CSS}</style></head><body>",
        f"<h1>pipeline report</h1><p>{html.escape(scope)}; {len(data.clips.rows)} clips; generated {now}</p>",
    ]
    for title, png in plots.items():
        parts.append(f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">')
    for name in SUMMARY_QUERIES:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(f'<p class="desc">{html.escape(get_query(name).description)}</p>')
        parts.append(html_table(r[name]))
    parts.append("</body></html>")
    return "\n".join(parts)


def report(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset (default: all).")] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="HTML report path (default <work>/reports/report.html).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Worst files shown per dataset in the terminal.")] = 10,
    work_dir: Annotated[Path | None, typer.Option(help="Work directory (default ./work).")] = None,
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
