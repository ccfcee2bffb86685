"""``pipeline report`` as a library: the store's summary queries collected into ``ReportData``,
plots, and one self-contained HTML page (plots embedded as PNG)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from dataclasses import dataclass

from pipeline.export.selection import SELECTED_TAKE
from pipeline.queries import QueryResult, format_value, get_query, run_query, run_sql

SUMMARY_QUERIES = (
    "pass_rate",
    "tiers",
    "reject_reasons",
    "verdict_breakdown",
    "mos_by_voice",
    "worst_files",
    "failing_words",
)
SUMMARY_QUERIES += ("judge_correlation", "dataset_comparison", "signal_outliers", "clip_checks", "speaker_similarity")
SUMMARY_QUERIES += ("coverage", "reject_pile")  # heal: chunks covered by a kept selected clip; what is left
# The plots read the clips the dataset ships: heal's selected take of each chunk (every clip where
# heal never ran), not the attempts it passed over.
CLIPS_SQL = f"""
SELECT dataset, voice, duration_s, primary_wer, adjusted_wer, composite_mos,
       mos_dnsmos_ovrl, mos_distillmos, mos_utmosv2, tier, keep
FROM audio_quality
WHERE (%(dataset)s::text IS NULL OR dataset = %(dataset)s) AND {SELECTED_TAKE}
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
