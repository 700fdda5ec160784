"""A self-contained HTML dashboard: inline SVG plots (matplotlib) and escaped tables, no script, no network.

Speed plots get one panel per device (name x count), so records merged from several machines compare.
"""
from __future__ import annotations

import html
import io
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from bench.report.task import BOOK, TIMING_LISTS, Report, cell_text, counts, table_view  # noqa: E402

STYLE = {
    "svg.fonttype": "path",      # glyphs as paths: the page looks as drawn, whatever fonts the viewer has
    "text.parse_math": False,    # a '$' in a model name or override must not start mathtext
    "svg.hashsalt": "inception-bench",  # stable ids: the same records give the same file
    "font.size": 9,
}
MAX_LATENCY_JOBS = 40  # boxes per device panel before the plot stops being readable
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.status-ok{color:#185}.status-failed{color:#b22;font-weight:bold}
figure{margin:0 0 1.5em}svg{max-width:100%;height:auto}.note{color:#666}
"""


# ---------------------------------------------------------------------------------------- helpers
def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline SVG in HTML needs neither


def _panels(groups: list[Any], width: float = 5.5) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(len(groups), 2)
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 3.6 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    return fig, list(axes.flat[:len(groups)])


def _ok(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """ok records holding every one of ``columns``."""
    if any(c not in frame for c in columns):
        return frame.iloc[0:0]
    return frame[(frame["status"] == "ok") & frame[list(columns)].notna().all(axis=1)]


def _variant(row: pd.Series) -> str:
    """What a line or box stands for: model and every setting that changes speed, besides batch size."""
    compiled = row.get("compile") not in (None, "off") and not pd.isna(row.get("compile"))
    parts = [row.get("model"), row.get("mode"), row.get("precision"), row.get("memory_format"),
             f"compile={row.get('compile')}" if compiled else None,
             f"{cell_text(row.get('input_size'))}px" if pd.notna(row.get("input_size")) else None]
    return " ".join(cell_text(p) for p in parts if p is not None and not pd.isna(p))


# ------------------------------------------------------------------------------------------ plots
def throughput_plot(records: pd.DataFrame) -> str | None:
    bench = _ok(records, "images_per_s", "batch_size")
    if bench.empty:
        return None
    devices = sorted(bench["device"].unique())
    fig, axes = _panels(devices)
    for ax, device in zip(axes, devices):
        rows = bench[bench["device"] == device]
        for variant, group in rows.groupby(rows.apply(_variant, axis=1)):
            curve = group.groupby("batch_size")["images_per_s"].mean().sort_index()
            ax.plot(curve.index, curve.values, marker="o", label=variant)
        ax.set(title=device, xlabel="batch size", ylabel="images / s")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain text: mathtext is off
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _svg(fig)


def latency_plot(records: pd.DataFrame) -> str | None:
    timed = _ok(records, "step_times_s")
    if not timed.empty:
        timed = timed[timed["step_times_s"].map(lambda v: isinstance(v, list) and len(v) > 0)]
    if timed.empty:
        return None
    devices = sorted(timed["device"].unique())
    fig, axes = _panels(devices, width=6.5)
    for ax, device in zip(axes, devices):
        rows = timed[timed["device"] == device].tail(MAX_LATENCY_JOBS)
        labels = [f"{_variant(r)} bs={cell_text(r.get('batch_size'))}" for _, r in rows.iterrows()]
        ax.boxplot([[t * 1e3 for t in v] for v in rows["step_times_s"]])
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=7)
        ax.set(title=device, ylabel="step time (ms)")
        ax.grid(alpha=0.3, axis="y")
    return _svg(fig)


def accuracy_plot(paper: pd.DataFrame) -> str | None:
    """Top-1 against GMACs and against params: published (hollow) and measured (filled)."""
    if paper.empty:
        return None
    pairs = [("gmacs", "GMACs / image"), ("params", "parameters")]
    points = [(src, key) for src in ("paper", "measured") for key, _ in pairs
              if paper[[f"{src}_top1", f"{src}_{key}"]].notna().all(axis=1).any()]
    if not points:
        return None
    fig, axes = _panels(pairs)
    for ax, (key, label) in zip(axes, pairs):
        for src, filled in (("paper", False), ("measured", True)):
            rows = paper[paper[[f"{src}_top1", f"{src}_{key}"]].notna().all(axis=1)]
            x = pd.to_numeric(rows[f"{src}_{key}"])
            y = pd.to_numeric(rows[f"{src}_top1"])
            ax.scatter(x, y, label=src, facecolors="C0" if filled else "none", edgecolors="C0")
            for model, xi, yi in zip(rows["model"], x, y):
                ax.annotate(model, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel=label, ylabel="top-1 (%)", title=f"top-1 vs {label}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _svg(fig)


def _numbers(value: Any) -> bool:
    """A per-epoch series: numbers, with None for an epoch where the metric was not logged."""
    return (isinstance(value, list) and len(value) > 0 and any(isinstance(v, (int, float)) for v in value)
            and all(v is None or isinstance(v, (int, float)) for v in value))


def curves(row: pd.Series) -> dict[str, list[float]]:
    """A record's training curves (x: the list index, one point per epoch): number lists, dicts of
    number lists (the training task's ``curves``), or lists of per-epoch dicts."""
    found: dict[str, list[Any]] = {}
    for key, value in row.items():
        if key in TIMING_LISTS:
            continue
        if _numbers(value):
            found[str(key)] = value
        elif isinstance(value, dict):
            found.update({f"{key}.{k}": v for k, v in value.items() if _numbers(v)})
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            names = {k for v in value for k, x in v.items() if isinstance(x, (int, float))}
            found.update({f"{key}.{n}": [v.get(n) for v in value] for n in sorted(names)})
    return {name: [math.nan if v is None else v for v in series] for name, series in found.items()
            if not name.endswith("epoch")}  # the epoch counter is the x axis, not a curve


def curves_plot(records: pd.DataFrame) -> str | None:
    trained = records[records["task"].isin(["train", "eval"])]
    runs = [(r, curves(r)) for _, r in trained.iterrows()]
    names = sorted({n for _, c in runs for n in c})
    if not names:
        return None
    fig, axes = _panels(names)
    for ax, name in zip(axes, names):
        for row, found in runs:
            if name in found:
                ax.plot(found[name], marker="o", label=f"{row.get('model')} {row.get('run_id')}")
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _svg(fig)


def book_plot(book: pd.DataFrame) -> str | None:
    if len(book) < 2:  # only the book's own row: nothing measured to put beside it
        return None
    labels = ["TF book, 2018"] + [f"{d} {p}" for d, p in zip(book["device"][1:], book["precision"][1:])]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(book) + 1.5))
    rows = range(len(book))  # positions, not labels: two runs on one device keep two bars
    ax.barh(rows, book["mean_s"], xerr=book["std_s"].fillna(0), color=["C1"] + ["C0"] * (len(book) - 1))
    ax.set_yticks(rows, labels)
    ax.axvline(BOOK["mean_s"], color="C1", linestyle="--")
    ax.set(xlabel="seconds / batch (Inception-v3, batch 32, 299x299, forward)", title="TF book (orange) vs here")
    ax.invert_yaxis()
    return _svg(fig)


# ------------------------------------------------------------------------------------------- page
def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row):
            css = ""
            if column == "status":
                css = ' class="status-ok"' if value == "ok" else ' class="status-failed"'
            cells.append(f"<td{css}>{html.escape(cell_text(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section(title: str, plot: Callable[[], str | None], empty: str) -> str:
    svg = plot()
    body = f"<figure>{svg}</figure>" if svg else f'<p class="note">{html.escape(empty)}</p>'
    return f"<h2>{html.escape(title)}</h2>{body}"


def render_dashboard(report: Report) -> str:
    records = report.records
    with plt.rc_context(STYLE):
        sections = [
            _section("Throughput vs batch size", lambda: throughput_plot(records), "no ok benchmark records"),
            _section("Latency distribution (per timed step)", lambda: latency_plot(records), "no step timings"),
            _section("Accuracy vs cost", lambda: accuracy_plot(report.paper),
                     "no top-1 figures (published or measured) for these models"),
            _section("Training curves", lambda: curves_plot(records), "no training records with curves"),
            _section("Inception-v3 batch 32 at 299x299: TF book vs here", lambda: book_plot(report.book),
                     "no ok Inception-v3 batch-32 299x299 forward benchmark yet"),
        ]
    summary = ", ".join(f"{k[2:]}: {v}" for k, v in counts(report).items())
    extras = []
    if not report.duplicates.empty:
        extras.append("<h2>Duplicate records (counted once)</h2>" + _table(report.duplicates))
    if report.skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in report.skipped)
        extras.append(f"<h2>Skipped records (unreadable)</h2><ul>{items}</ul>")
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>inception-bench report</title>'
        f'<link rel="icon" href="data:,"><style>{CSS}</style></head><body>'
        f"<h1>inception-bench report</h1><p>{html.escape(summary)} &middot; made {made}</p>"
        + "".join(sections)
        + "<h2>Published vs measured</h2>" + _table(report.paper)
        + "<h2>TF book vs here (table)</h2>" + _table(report.book)
        + "<h2>Runs</h2>" + _table(table_view(records))
        + "".join(extras) + "</body></html>"
    )
