"""dashboard.html: one self-contained, offline page: plotly.js inlined once, the data as JSON, no network.

The page is the markdown's sections (``sections.SECTIONS``, same table builders) with plots added; a
filter bar (device, model, precision, scenario, status, dataset) applies to every plot and table.
"""
from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.resources import files
from typing import Any

import pandas as pd
from plotly.offline import get_plotlyjs

from bench.report.figures import FIGURES, Spec
from bench.report.markdown import summary_line
from bench.report.records import Report
from bench.report.sections import SECTIONS, heading
from bench.report.tables import RECORDS, cell_text
from contracts.record import F

FILTERS = (F.device, F.model, F.precision, F.scenario, F.status, "dataset")  # the filter bar, left to right
NONE = "(none)"  # a filter value: the field is not set in the record
ASSETS = files("bench.report")


@dataclass
class View:
    """A view made outside the report's sections (the compare task's), shown first on the page."""

    key: str
    title: str
    figures: list[Spec]
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)   # short paragraphs above the plots (a suite line)


def _plain(value: Any) -> Any:
    """JSON-ready: NaN/inf -> null (a gap in a plot), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def script_json(value: Any) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' that could close the element or start markup."""
    text = json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


# ------------------------------------------------------------------------------------------ the data
def _filter_value(value: Any) -> str:
    text = cell_text(value)
    return text if text else NONE


def filter_data(records: pd.DataFrame) -> dict[str, Any]:
    """Per filter, the values present and each record's code into them (the page's filter bar)."""
    out = {}
    for name in FILTERS:
        values = [_filter_value(v) for v in records[name]]
        choices = sorted(set(values))
        lookup = {v: i for i, v in enumerate(choices)}
        out[name] = {"values": choices, "codes": [lookup[v] for v in values]}
    return out


HOVER_FIELDS = [F.model, F.device, F.precision, F.batch_size, F.scenario, "series", F.run_id]


def hover_labels(records: pd.DataFrame) -> list[str]:
    """What a hover says about the record behind a point: model, device, precision, batch, sweep, run id."""
    labels = []
    for r in records.reindex(columns=HOVER_FIELDS).to_dict("records"):
        parts = [r.get(F.model), r.get(F.device), r.get(F.precision),
                 f"batch {cell_text(r.get(F.batch_size))}" if pd.notna(r.get(F.batch_size)) else None,
                 r.get(F.scenario), r.get("series"), f"run {r.get(F.run_id)}"]
        labels.append(" · ".join(cell_text(p) for p in parts if p is not None and cell_text(p)))
    return labels


def _exact(value: Any) -> str:
    """A detail cell: the value as recorded (floats in full), a list or dict as its length."""
    if isinstance(value, (list, dict)):
        return f"[{len(value)} items]"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def detail_data(records: pd.DataFrame) -> dict[str, Any]:
    """Every field of each record, exact: a runs-table row's expandable detail."""
    keys = sorted(c for c in records.columns if not c.startswith("_"))
    return {"keys": keys, "rows": [[_exact(v) for v in row] for row in records[keys].itertuples(index=False)]}


# ------------------------------------------------------------------------------------------ the page
def html_table(frame: pd.DataFrame, table_id: str | None = None) -> str:
    """A sortable table; each row lists its records (``data-r``) so the filter bar can hide it."""
    columns = [c for c in frame.columns if c != RECORDS]
    if frame.empty:
        return '<p class="note">none</p>'
    head = "".join(f'<th title="sort">{html.escape(str(c))}</th>' for c in columns)
    body = []
    for row in frame.to_dict("records"):
        ids = " ".join(map(str, row[RECORDS])) if RECORDS in frame else ""
        cells = "".join((f'<td class="{c}-{html.escape(cell_text(row[c]).replace(" ", "-"))}">'
                         if c in (F.status, "verdict") else "<td>")
                        + f"{html.escape(cell_text(row[c]))}</td>" for c in columns)
        body.append(f'<tr data-r="{ids}">{cells}</tr>' if RECORDS in frame else f"<tr>{cells}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="data"{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _filter_bar(filters: dict[str, Any], total: int) -> str:
    selects = []
    for name in FILTERS:
        options = "".join(f'<option value="{i}">{html.escape(v)}</option>' for i, v in enumerate(filters[name]["values"]))
        selects.append(f'<label>{name} <select data-filter="{name}"><option value="">all</option>{options}</select></label>')
    return (f'<div id="filters">{"".join(selects)}<button id="reset">reset</button>'
            f'<span id="shown">{total} of {total} records</span></div>')


def _plot_divs(figures: list[Spec], plots: list[Spec]) -> list[str]:
    """The figures' placeholders, each numbered into the page's list of plots."""
    divs = []
    for spec in figures:
        spec["id"] = f"plot-{len(plots)}"
        plots.append(spec)
        # sized before it is drawn: plots further down stay off screen, so they are drawn only when reached
        divs.append(f'<div class="plot" id="{spec["id"]}" style="height:{spec["layout"]["height"]}px"></div>')
    return divs


def _view_html(view: View, plots: list[Spec]) -> str:
    divs = _plot_divs(view.figures, plots)
    body = [f"<p>{html.escape(line)}</p>" for line in view.lines] + [f'<div class="plots">{"".join(divs)}</div>']
    for title, table in view.tables:
        body += [f"<h3>{html.escape(title)}</h3>"] if title else []
        body.append(html_table(table, f"{view.key}-table"))
    return (f'<section id="sec-{view.key}" data-view="{view.key}"><h2>{html.escape(view.title)}</h2>'
            f'{"".join(body)}</section>')


def render_dashboard(report: Report, views: Sequence[View] = ()) -> str:
    records = report.records
    plots: list[Spec] = []
    parts = [_view_html(view, plots) for view in views]
    nav = [f'<a href="#sec-{view.key}">{html.escape(view.title.split(":")[0])}</a>' for view in views]
    for section in SECTIONS:
        chosen = section.records(report)
        if chosen.empty:
            continue
        figures = FIGURES[section.key](report, chosen) if section.key in FIGURES else []
        divs = _plot_divs(figures, plots)
        body = [f'<div class="plots">{"".join(divs)}</div>'] if divs else []
        for title, table in section.built_tables(report):
            body += [f"<h3>{html.escape(title)}</h3>"] if title else []
            body.append(html_table(table, "runs" if section.key == "runs" else None))
        if section.key == "runs":
            body.insert(0, '<p><input id="runs-search" type="search" placeholder="search the runs table"> '
                           '<span class="note">click a header to sort, a row for every field of its record</span></p>')
        title = heading(section, chosen)
        nav.append(f'<a href="#sec-{section.key}">{html.escape(section.what.split(":")[0].split(" (")[0])}</a>')
        parts.append(f'<section id="sec-{section.key}" data-view="{section.key}"><h2>{html.escape(title)}</h2>'
                     f'{"".join(body)}</section>')
    if not report.duplicates.empty:
        parts.append("<section><h2>Duplicate records (counted once)</h2>" + html_table(report.duplicates) + "</section>")
    if report.skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in report.skipped)
        parts.append(f"<section><h2>Skipped records (unreadable)</h2><ul>{items}</ul></section>")
    data = {"filters": filter_data(records), "hover": hover_labels(records), "plots": plots}
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    css = ASSETS.joinpath("dashboard.css").read_text(encoding="utf-8")
    js = ASSETS.joinpath("dashboard.js").read_text(encoding="utf-8")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>inception-bench report</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><style>{css}</style></head><body>'
        f"<header><h1>inception-bench report</h1><p>{html.escape(summary_line(report))} &middot; made {made}</p>"
        f'{_filter_bar(data["filters"], len(records))}<nav>{" ".join(nav)}</nav></header>'
        f'<main>{"".join(parts)}</main>'
        f"<script>{get_plotlyjs()}</script>"
        f'<script id="report-data" type="application/json">{script_json(data)}</script>'
        f'<script id="report-detail" type="application/json">{script_json(detail_data(records))}</script>'
        f"<script>{js}</script></body></html>"
    )
