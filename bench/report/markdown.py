"""summary.md: the report's sections as markdown tables (the dashboard shows the same tables)."""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from bench.report.records import Report
from bench.report.sections import SECTIONS, heading
from bench.report.tables import RECORDS, cell_text, counts


def _md_cell(value: Any) -> str:
    # Markdown viewers render raw HTML: a model name or override holding tags must stay text.
    return html.escape(cell_text(value), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    frame = frame.drop(columns=[RECORDS], errors="ignore")
    if frame.empty:
        return "_none_\n"
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def summary_line(report: Report) -> str:
    return ", ".join(f"{k[2:]}: {v}" for k, v in counts(report).items())


def render_markdown(report: Report) -> str:
    parts = [f"# inception-bench report\n\n{summary_line(report)}\n"]
    for section in SECTIONS:
        records = section.records(report)
        if records.empty or not section.tables:
            continue
        parts.append(f"## {_md_cell(heading(section, records))}\n")
        for title, table in section.built_tables(report):
            parts += [f"### {title}\n"] if title else []
            parts.append(markdown_table(table))
    if not report.duplicates.empty:
        parts += ["## Duplicate records (counted once)\n", markdown_table(report.duplicates)]
    if report.skipped:
        parts += ["## Skipped records (unreadable, or not matching the record schema)\n", "".join(f"- {s}\n" for s in report.skipped)]
    return "\n".join(parts)
