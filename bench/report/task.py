"""The report task: every record under one or more results dirs -> CSV, parquet, markdown and a dashboard.

Records copied together from several machines merge: rows are grouped by device (name x count), and a
record seen twice (same ``run_id``, e.g. a dir copied twice) is counted once and listed as a duplicate.
A record that does not parse is skipped with a warning naming it; unknown fields are kept as columns.
"""
from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bench.job.errors import ConfigError
from bench.job.record import RECORD_FILE, JobContext

log = logging.getLogger(__name__)

FAILED_STATUSES = ("oom", "error", "diverged", "interrupted")
TIMING_LISTS = ("step_times_s", "repeat_means_s")  # per-step timings: latency plots, not training curves
# What a row of the markdown table shows (when present); the CSV and parquet files keep every column.
TABLE_COLUMNS = (
    "sweep_id", "job_num", "task", "model", "status", "device", "mode", "batch_size", "input_size", "precision",
    "mean_s", "std_s", "images_per_s", "gmacs_per_image", "params", "top1", "top5", "overrides", "error",
)
# The TensorFlow book's Inception-v3 forward timing (seed 000): batch 32, 299x299, 100 steps.
BOOK = {"model": "inception_v3", "batch_size": 32, "input_size": 299, "mode": "forward",
        "mean_s": 0.168, "std_s": 0.002, "source": "TensorFlow book, 2018 (TensorFlow, hardware not stated)"}


@dataclass
class Report:
    """The loaded records and the side tables every output is made from."""

    records: pd.DataFrame                      # one row per unique record; list-valued fields kept as lists
    skipped: list[str] = field(default_factory=list)   # "path: reason" for each record that did not parse
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)  # run_id + path of each extra copy
    paper: pd.DataFrame = field(default_factory=pd.DataFrame)       # published vs measured, per model
    book: pd.DataFrame = field(default_factory=pd.DataFrame)        # TF book vs own Inception-v3 runs


# ------------------------------------------------------------------------------------------ loading
def find_records(dirs: list[str | Path]) -> list[Path]:
    """Every ``record.json`` under ``dirs``; a missing dir or one without records is a ConfigError."""
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"results dir not found: {', '.join(missing)} (set report.dirs=[...] or paths.results_dir)")
    paths = sorted({p.resolve() for d in dirs for p in Path(d).rglob(RECORD_FILE)})
    if not paths:
        raise ConfigError(f"no {RECORD_FILE} under {', '.join(map(str, dirs))}: run a benchmark or a sweep first")
    return paths


def _parse(path: Path) -> dict[str, Any]:
    record = json.loads(path.read_text())
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


def device_label(name: Any, count: Any) -> str:
    """``NVIDIA H100 x8``: what GPUs compare by; records from before the environment was known say ``unknown``."""
    if not isinstance(name, str) or not name:
        return "unknown"
    return f"{name} x{int(count)}" if pd.notna(count) and int(count) > 1 else name


def load_records(dirs: list[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """All records as a DataFrame (the nested ``config`` left out) and the list of files skipped."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for path in find_records(dirs):
        try:
            record = _parse(path)
        except (OSError, ValueError) as exc:  # truncated or hand-edited file: the rest of the report still counts
            skipped.append(f"{path}: {type(exc).__name__}: {exc}")
            log.warning("skipped unreadable record %s: %s", path, exc)
            continue
        record.pop("config", None)
        rows.append({**record, "record_path": str(path)})
    if not rows:
        raise ConfigError(f"no readable record under {', '.join(map(str, dirs))} ({len(skipped)} skipped)")
    frame = pd.DataFrame(rows)
    for column in ("run_id", "task", "status", "model", "device_name", "device_count"):
        if column not in frame:
            frame[column] = None
    frame["device"] = [device_label(n, c) for n, c in zip(frame["device_name"], frame["device_count"])]
    return frame, skipped


def split_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(unique records, extra copies): a run_id seen twice is one job whose dir was copied twice."""
    dup = frame["run_id"].notna() & frame.duplicated("run_id", keep="first")
    return frame[~dup].reset_index(drop=True), frame.loc[dup, ["run_id", "record_path"]].reset_index(drop=True)


# ----------------------------------------------------------------------------------- side tables
def _paper_figures(model: str) -> dict[str, Any]:
    """The paper's figures a model declares; {} for models the registry does not know (or fails to load)."""
    try:
        from lightning_modules.zoo import get_model_info

        return dict(get_model_info(model).paper or {})
    except Exception as exc:  # the report must not depend on every model importing
        log.debug("no paper figures for %s: %s", model, exc)
        return {}


def _best(frame: pd.DataFrame, column: str) -> pd.Series:
    """Per model, the best ok measurement of ``column`` (NaN where never measured)."""
    if column not in frame:
        return pd.Series(dtype=float)
    ok = frame[frame["status"] == "ok"]
    return pd.to_numeric(ok[column], errors="coerce").groupby(ok["model"]).max()


def paper_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Published top-1/top-5, params and GMACs beside the measured ones, one row per model."""
    rows = []
    measured = {c: _best(frame, c) for c in ("top1", "top5", "params", "gmacs_per_image")}
    for model in sorted(m for m in frame["model"].dropna().unique() if isinstance(m, str)):
        paper = _paper_figures(model)
        row: dict[str, Any] = {"model": model}
        for key, column in (("top1", "top1"), ("top5", "top5"), ("params", "params"), ("gmacs", "gmacs_per_image")):
            row[f"paper_{key}"] = paper.get(key)
            row[f"measured_{key}"] = measured[column].get(model)
        row["source"] = paper.get("source")
        rows.append(row)
    return pd.DataFrame(rows)


def book_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The book's 0.168 +/- 0.002 s/batch beside each own Inception-v3 batch-32 299x299 forward run."""
    mine = frame
    for key in ("model", "batch_size", "input_size", "mode"):
        mine = mine[mine[key] == BOOK[key]] if key in mine else mine.iloc[0:0]
    mine = mine[mine["status"] == "ok"]
    rows = [{"source": BOOK["source"], "device": "not stated", "precision": "fp32",
             "mean_s": BOOK["mean_s"], "std_s": BOOK["std_s"]}]
    rows += [{"source": f"run {r['run_id']} ({r.get('timestamp')})", "device": r["device"],
              "precision": r.get("precision"), "mean_s": r.get("mean_s"), "std_s": r.get("std_s")}
             for _, r in mine.iterrows()]
    return pd.DataFrame(rows)


def build_report(dirs: list[str | Path]) -> Report:
    frame, skipped = load_records(dirs)
    frame = frame[frame["task"] != "report"]  # report jobs hold no figures (and one is running right now)
    if frame.empty:
        raise ConfigError(f"only report records under {', '.join(map(str, dirs))}: run a benchmark or a sweep first")
    records, duplicates = split_duplicates(frame)
    for run_id in duplicates["run_id"].unique():
        log.warning("duplicate record %s (counted once): %s", run_id,
                    ", ".join(frame.loc[frame["run_id"] == run_id, "record_path"]))
    return Report(records, skipped, duplicates, paper_table(records), book_table(records))


# ------------------------------------------------------------------------------------------ writers
def _cell(value: Any) -> Any:
    """A file-safe cell: lists and dicts become JSON text, so every column survives CSV and parquet."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def flat_frame(frame: pd.DataFrame) -> pd.DataFrame:
    flat = frame.map(_cell)
    for column in flat.columns[flat.dtypes == object]:
        kinds = {type(v) for v in flat[column] if v is not None and not (isinstance(v, float) and pd.isna(v))}
        if len(kinds) > 1:  # e.g. an unknown field that is a number in one record and text in another
            flat[column] = flat[column].map(lambda v: None if v is None or v != v else str(v))
    return flat


def cell_text(value: Any) -> str:
    """A table cell as text: blanks for missing, counts whole, 4 significant digits, lists space-separated."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):  # integral floats are counts (params, batch size) made float by a blank row
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _md_cell(value: Any) -> str:
    # Markdown viewers render raw HTML: a model name or override holding tags must stay text.
    return html.escape(cell_text(value), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_\n"
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def distinct_overrides(overrides: pd.Series) -> pd.Series:
    """Each row's overrides less those every row shares (results dir, steps...): what tells the jobs apart."""
    lists = [v if isinstance(v, list) else [] for v in overrides]
    common = set.intersection(*map(set, lists)) if len(lists) > 1 else set()
    return pd.Series([" ".join(o for o in v if o not in common) for v in lists], index=overrides.index)


def table_view(records: pd.DataFrame) -> pd.DataFrame:
    """The summary rows: the columns a reader compares, sweep jobs in order."""
    sort = [c for c in ("sweep_id", "job_num", "timestamp") if c in records]
    ordered = records.sort_values(sort, na_position="first") if sort else records
    view = ordered[[c for c in TABLE_COLUMNS if c in ordered]].reset_index(drop=True)
    if "overrides" in view:
        view["overrides"] = distinct_overrides(view["overrides"])
    return view


def counts(report: Report) -> dict[str, int]:
    status = report.records["status"]
    return {
        "n_records": len(report.records), "n_ok": int((status == "ok").sum()),
        "n_failed": int(status.isin(FAILED_STATUSES).sum()), "n_running": int((status == "running").sum()),
        "n_duplicates": len(report.duplicates), "n_skipped": len(report.skipped),
    }


def render_markdown(report: Report) -> str:
    summary = ", ".join(f"{k[2:]}: {v}" for k, v in counts(report).items())
    parts = [f"# inception-bench report\n\n{summary}\n", "## Runs\n", markdown_table(table_view(report.records)),
             "## Published vs measured\n", markdown_table(report.paper),
             "## Inception-v3, batch 32, 299x299 forward: TF book vs this harness\n", markdown_table(report.book)]
    if not report.duplicates.empty:
        parts += ["## Duplicate records (counted once)\n", markdown_table(report.duplicates)]
    if report.skipped:
        parts += ["## Skipped records (unreadable)\n", "".join(f"- {s}\n" for s in report.skipped)]
    return "\n".join(parts)


def write_report(report: Report, out_dir: str | Path) -> dict[str, str]:
    """summary.csv, summary.parquet, summary.md and dashboard.html in ``out_dir``; returns their paths."""
    from bench.report.dashboard import render_dashboard

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / name for k, name in (("csv", "summary.csv"), ("parquet", "summary.parquet"),
                                               ("markdown", "summary.md"), ("dashboard", "dashboard.html"))}
    flat = flat_frame(report.records)
    flat.to_csv(paths["csv"], index=False)
    flat.to_parquet(paths["parquet"], index=False)
    paths["markdown"].write_text(render_markdown(report))
    paths["dashboard"].write_text(render_dashboard(report), encoding="utf-8")
    return {f"report_{k}": str(p) for k, p in paths.items()}


def make_report(dirs: list[str | Path], out_dir: str | Path) -> dict[str, Any]:
    report = build_report(dirs)
    outputs = write_report(report, out_dir)
    print(markdown_table(table_view(report.records)))
    print(f"report: {outputs['report_dashboard']}")
    return {**counts(report), **outputs}


def run_report(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """task=report: the record gets the counts and the output paths."""
    dirs = list(cfg.report.dirs or [])
    if not dirs:
        raise ConfigError("report.dirs is empty: give the results dirs to gather, e.g. report.dirs=[results]")
    return make_report(dirs, cfg.report.out_dir or ctx.out_dir)


class ReportCallback(Callback):
    """Hydra callback: report a sweep into ``<sweep dir>/report`` when the multirun ends.

    Hydra skips ``on_multirun_end`` when a job raised; run.py records failures instead of raising, so
    failed jobs still get here. ``python run.py task=report`` makes the same report on its own.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not self.enabled or not sweep_dir.is_dir():
            return
        try:
            make_report([sweep_dir], sweep_dir / "report")
        except ConfigError as exc:  # e.g. nothing recorded: say so, the sweep itself went fine
            log.warning("no sweep report: %s", exc)
