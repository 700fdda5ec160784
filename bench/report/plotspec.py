"""The dashboard's figure spec primitives (plain plotly.js dicts), shared by every figure builder."""
from __future__ import annotations

import html
import math
from typing import Any

from bench.report.tables import cell_text

Spec = dict[str, Any]
LEGEND_WIDTH = 600     # px a plot's legend gets (two plots side by side on a laptop screen)


def esc(text: Any) -> str:
    return html.escape(cell_text(text), quote=False)


def hover(*lines: str) -> str:
    """The hover: the record's identity (filled in by the page) above the exact values."""
    return "<br>".join(("%{hovertext}", *lines)) + "<extra></extra>"


def figure(title: str, on: str, xtitle: str, ytitle: str, data: list[Spec], **layout: Any) -> Spec:
    """A figure with its title naming the device(s), the legend below the plot (long names fit)."""
    names = [t.get("name", "") for t in data if t.get("showlegend", True)]
    per_row = max(1, LEGEND_WIDTH // (6 * max(map(len, names), default=1) + 40))  # entries that fit side by side
    legend = 19 * math.ceil(len(names) / per_row)
    lines = "<br>".join(f"<span style='font-size:11px'>{esc(line)}</span>" for line in on.split("\n"))
    spec = {"title": {"text": f"{esc(title)}<br>{lines}", "font": {"size": 14}},
            "xaxis": {"title": {"text": xtitle}, "automargin": True},
            "yaxis": {"title": {"text": ytitle}, "automargin": True},
            "height": 300 + legend, "margin": {"t": 55 + 15 * len(on.split("\n")), "l": 60, "r": 60, "b": 60 + legend},
            "hovermode": "closest",
            "legend": {"font": {"size": 10}, "orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"}}
    for key, value in layout.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return {"data": data, "layout": spec}
