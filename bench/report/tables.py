"""The report's tables: one builder per table, shared by the markdown and the dashboard.

Each builder takes the report and the records its section draws from, and returns a DataFrame. A column
named ``RECORDS`` holds, per row, the indices of the records the row stands for: the dashboard's filter bar
hides a row when none of them passes; the markdown leaves the column out.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from contracts.status import FAILED_STATUSES, Status
from bench.reference import IMAGENET_VAL, MODELS, RETHINKING_TABLE3, TF_BOOK, paper_figures
from bench.report.records import Report
from contracts.record import F

RECORDS = "_records"
# What the runs table shows by default (when present); the dashboard puts every other field in a row's detail,
# the CSV and parquet files keep every column.
RUN_COLUMNS = (
    F.sweep_id, F.job_num, F.task, F.model, F.status, F.device, "dataset", F.scenario, F.mode, F.batch_size,
    F.input_size, F.precision, F.mean_s, F.images_per_s, F.latency_p99_s, F.top1, F.run_id, F.overrides, F.error,
)
LATENCY_SCENARIOS = ("single_stream", "server", "offline")  # issue 10's scenarios measured per query


def cell_text(value: Any) -> str:
    """A table cell as text: blanks for missing, counts whole, 4 significant digits, lists space-separated."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):  # integral floats are counts (params, batch size) made float by a blank row
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _ids(frame: pd.DataFrame) -> list[list[int]]:
    return [[int(i)] for i in frame.index]


def ok(records: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """ok records holding a value in every one of ``columns``."""
    if any(c not in records for c in columns):
        return records.iloc[0:0]
    return records[(records[F.status] == Status.OK) & records[list(columns)].notna().all(axis=1)]


def pick(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``columns`` that exist, in order, with the record indices; the input's index is dropped."""
    out = frame[[c for c in columns if c in frame]].copy()
    out[RECORDS] = _ids(frame)
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------------------- runs, status
def distinct_overrides(overrides: pd.Series) -> pd.Series:
    """Each row's overrides less those every row shares (results dir, steps...): what tells the jobs apart."""
    lists = [v if isinstance(v, list) else [] for v in overrides]
    common = set.intersection(*map(set, lists)) if len(lists) > 1 else set()
    return pd.Series([" ".join(o for o in v if o not in common) for v in lists], index=overrides.index)


def runs_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """One row per record, sweep jobs in order; columns no record fills are left out."""
    sort = [c for c in (F.sweep_id, F.job_num, F.timestamp) if c in records]
    ordered = records.sort_values(sort, na_position="first") if sort else records
    columns = tuple(c for c in RUN_COLUMNS if c in ordered and ordered[c].notna().any())
    view = pick(ordered, columns)
    if F.overrides in view:
        view[F.overrides] = distinct_overrides(ordered[F.overrides]).to_numpy()
    return view


def status_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Jobs per status, in the Status order (``dead``: recorded ``running``, process gone)."""
    rows = [{F.status: s.value, "jobs": int(n), RECORDS: list(map(int, records.index[records[F.status] == s]))}
            for s in Status if (n := (records[F.status] == s).sum())]
    return pd.DataFrame(rows)


def problems_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Every job that did not end ok, with what it said and where it ran."""
    bad = records[records[F.status] != Status.OK]
    return pick(bad, (F.run_id, F.task, F.model, F.status, "recorded_status", F.device, F.host, F.pid, F.error,
                      "record_path"))


def counts(report: Report) -> dict[str, int]:
    status = report.records[F.status]
    return {
        F.n_records: len(report.records), F.n_ok: int((status == Status.OK).sum()),
        F.n_failed: int(status.isin(FAILED_STATUSES).sum()), F.n_running: int((status == Status.RUNNING).sum()),
        F.n_dead: int((status == Status.DEAD).sum()),
        F.n_duplicates: len(report.duplicates), F.n_skipped: len(report.skipped),
    }


# ------------------------------------------------------------------------------------------ accuracy
def accuracy_label(row: pd.Series) -> str:
    """``digits, 10 classes, center crop``: every accuracy figure says what it was measured on."""
    classes = row.get(F.num_classes)
    parts = [str(row.get("dataset")), f"{int(classes)} classes" if pd.notna(classes) else None,
             f"{row.get('protocol')} crop" if isinstance(row.get("protocol"), str) else "crop not recorded"]
    return ", ".join(p for p in parts if p)


def comparable(row: pd.Series) -> str | None:
    """Why a paper's top-1 may NOT stand beside this measurement; None when it may (ImageNet val, the paper's
    protocol). The papers' figures are ImageNet val, 1000 classes, single centre crop unless they state more."""
    paper = MODELS.get(row.get(F.model))
    if paper is None or paper.top1 is None:
        return "no published top-1 for this model"
    if row.get("dataset_key") != paper.dataset:
        return f"paper: {paper.dataset}; measured on another dataset"
    if row.get("protocol") != paper.protocol:
        return f"paper protocol {paper.protocol}, measured {row.get('protocol')}"
    return None


def _accuracy_records(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    measured = ok(records, F.top1)
    return measured, measured.apply(comparable, axis=1) if len(measured) else pd.Series(dtype=object)


def imagenet_records(records: pd.DataFrame) -> pd.DataFrame:
    measured, why = _accuracy_records(records)
    return measured[why.isna()] if len(measured) else measured


def other_dataset_records(records: pd.DataFrame) -> pd.DataFrame:
    measured, why = _accuracy_records(records)
    return measured[why.notna()] if len(measured) else measured


def paper_accuracy_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Measured top-1/top-5 on ImageNet val beside the paper's, same protocol only."""
    rows = []
    for index, row in records.iterrows():
        paper = paper_figures(row[F.model])
        rows.append({F.model: row[F.model], "measured_on": accuracy_label(row), F.top1: row[F.top1],
                     "paper_top1": paper[F.top1], F.top5: row.get(F.top5), "paper_top5": paper[F.top5],
                     F.device: row[F.device], F.run_id: row[F.run_id], "source": paper["source"], RECORDS: [index]})
    return pd.DataFrame(rows)


def other_accuracy_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Top-1/top-5 on any other dataset or protocol: their own figures, no paper figure beside them."""
    view = pick(records, (F.model, F.task, F.top1, F.top5, F.device, F.run_id))
    view.insert(1, "measured_on", [accuracy_label(r) for _, r in records.iterrows()])
    view["no_paper_figure_because"] = [comparable(r) for _, r in records.iterrows()]
    return view


def cost_records(records: pd.DataFrame) -> pd.DataFrame:
    measured = ok(records, F.params)
    return measured[measured[F.model].isin(list(MODELS))]


def cost_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Published parameters and GMACs beside the counted ones, one row per model. GMACs grow with the input:
    the count shown is the largest input measured, and says which (the papers count at 224 or 299)."""
    rows = []
    for model, group in records.groupby(F.model):
        paper = paper_figures(model)
        largest = group.loc[pd.to_numeric(group[F.input_size], errors="coerce").fillna(0).idxmax()]
        rows.append({F.model: model, "paper_params": paper[F.params], F.params: largest[F.params],
                     "paper_gmacs": paper["gmacs"], F.gmacs_per_image: largest.get(F.gmacs_per_image),
                     "counted_at_px": largest.get(F.input_size), "source": paper["source"],
                     RECORDS: list(map(int, group.index))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------- Rethinking Table 3
def table3_records(records: pd.DataFrame) -> pd.DataFrame:
    return records[records[F.row].isin(list(RETHINKING_TABLE3))] if F.row in records else records.iloc[0:0]


def _on_imagenet(records: pd.DataFrame) -> pd.Series:
    return (records["dataset_key"] == IMAGENET_VAL) & (records["protocol"] == "center")


def table3_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """The paper's rows in order, each with the runs measured on ImageNet val (single crop) beside it."""
    on_imagenet = records[_on_imagenet(records)]
    rows = []
    for key, paper in RETHINKING_TABLE3.items():
        runs = on_imagenet[on_imagenet[F.row] == key]
        base = {F.row: key, F.network: paper.network, F.paper_top1_err: paper.top1_err,
                F.paper_top5_err: paper.top5_err, F.paper_bn_ops: paper.bn_ops}
        rows += [{**base, F.top1_err: r.get(F.top1_err), F.top5_err: r.get(F.top5_err), F.status: r[F.status],
                  F.device: r[F.device], F.run_id: r[F.run_id], RECORDS: [i]} for i, r in runs.iterrows()]
        if runs.empty:
            rows.append({**base, RECORDS: []})
    return pd.DataFrame(rows)


def table3_other_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Table 3 rows trained on another dataset (a smoke test): their own errors, not comparable with the paper's."""
    other = records[~_on_imagenet(records)]
    view = pick(other, (F.row, F.model, F.top1_err, F.top5_err, F.status, F.device, F.run_id))
    view.insert(1, "measured_on", [accuracy_label(r) for _, r in other.iterrows()])
    return view


# ------------------------------------------------------------------------------------------ TF book
def book_records(records: pd.DataFrame) -> pd.DataFrame:
    """ok runs of the book's protocol: model, batch, input, mode, fp32, and its steps where recorded."""
    mine = ok(records, F.mean_s)
    for key in (F.model, F.batch_size, F.input_size, F.mode, F.steps, F.burn_in):
        if key not in mine:
            return mine.iloc[0:0]
        mine = mine[(mine[key] == TF_BOOK[key]) | (mine[key].isna() & (key in (F.steps, F.burn_in)))]
    mine = mine[mine[F.precision].isin(["fp32", None])]
    if F.scenario in mine:
        mine = mine[mine[F.scenario].isna() | (mine[F.scenario] == "tf_book")]
    return mine


def book_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """The book's 0.168 +/- 0.002 s/batch, then each own run of the same protocol."""
    rows = [{"source": TF_BOOK["source"], F.device: "not stated", F.precision: "fp32",
             F.mean_s: TF_BOOK[F.mean_s], F.std_s: TF_BOOK[F.std_s], RECORDS: []}]
    rows += [{"source": f"run {r[F.run_id]} ({r.get(F.timestamp)})", F.device: r[F.device],
              F.precision: r.get(F.precision), F.mean_s: r.get(F.mean_s), F.std_s: r.get(F.std_s), RECORDS: [i]}
             for i, r in records.iterrows()]
    return pd.DataFrame(rows)
