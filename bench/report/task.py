"""The report task: every record under one or more results dirs -> CSV, parquet, markdown and a dashboard."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bench.job.record import JobContext
from bench.report.dashboard import render_dashboard
from bench.report.markdown import markdown_table, render_markdown
from bench.report.records import Report, build_report
from bench.report.tables import counts, runs_table
from contracts.record import F

# Columns the report adds only to group its views by: left out of the CSV and parquet files.
DERIVED = ("dataset_key", "series")


def _cell(value: Any) -> Any:
    """A file-safe cell: lists and dicts become JSON text, so every column survives CSV and parquet."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def flat_frame(frame: pd.DataFrame) -> pd.DataFrame:
    flat = frame.drop(columns=list(DERIVED), errors="ignore").map(_cell)
    for column in flat.columns[flat.dtypes == object]:
        kinds = {type(v) for v in flat[column] if v is not None and not (isinstance(v, float) and pd.isna(v))}
        if len(kinds) > 1:  # e.g. an unknown field that is a number in one record and text in another
            flat[column] = flat[column].map(lambda v: None if v is None or v != v else str(v))
    return flat


def write_report(report: Report, out_dir: str | Path) -> dict[str, str]:
    """summary.csv, summary.parquet, summary.md and dashboard.html in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / name for k, name in (("csv", "summary.csv"), ("parquet", "summary.parquet"),
                                               ("markdown", "summary.md"), ("dashboard", "dashboard.html"))}
    flat = flat_frame(report.records)
    flat.to_csv(paths["csv"], index=False)
    flat.to_parquet(paths["parquet"], index=False)
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["dashboard"].write_text(render_dashboard(report), encoding="utf-8")
    return {f"report_{k}": str(p) for k, p in paths.items()}


def make_report(dirs: list[str | Path], out_dir: str | Path,
                target_top1: dict[str, float] | None = None) -> dict[str, Any]:
    report = build_report(dirs, target_top1)
    outputs = write_report(report, out_dir)
    print(markdown_table(runs_table(report, report.records)))
    print(f"report: {outputs[F.report_dashboard]}")
    return {**counts(report), **outputs}


def targets(cfg_report: Any) -> dict[str, float]:
    """``report.target_top1`` as a plain dict (the schema, ``contracts.config_sections.ReportConfig``, checked it)."""
    return {str(k): float(v) for k, v in OmegaConf.to_container(cfg_report.get("target_top1") or {}, resolve=True).items()}


def run_report(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """task=report: the record gets the counts and the output paths."""
    return make_report(list(cfg.report.dirs), cfg.report.out_dir or ctx.out_dir, targets(cfg.report))
