"""Training curves out of records, and MLPerf Training's measure: wall time to a target validation top-1."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from contracts.metrics import VAL_TOP1_CURVE
from bench.report.records import Report
from bench.report.tables import RECORDS, accuracy_label
from contracts.record import F

TIMING_LISTS = (F.step_times_s, F.repeat_means_s)  # per-step timings of a benchmark, not training curves
TARGET_CURVE = f"curves.{VAL_TOP1_CURVE}"


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


def trained_records(records: pd.DataFrame) -> pd.DataFrame:
    trained = records[records[F.task].isin(["train", "eval"])]
    return trained[[bool(curves(r)) for _, r in trained.iterrows()]] if len(trained) else trained


def epoch_times(row: pd.Series, epochs: int) -> tuple[list[float] | None, bool]:
    """Wall seconds at the end of each epoch, and whether they are estimated: a record's own ``curves.time_s``
    when it has one, else its ``train_time_s`` spread evenly over the epochs."""
    own = (row.get(F.curves) or {}).get("time_s") if isinstance(row.get(F.curves), dict) else None
    if _numbers(own) and len(own) == epochs:
        return [float(t) for t in own], False
    total = row.get(F.train_time_s)
    if not isinstance(total, (int, float)) or total != total or epochs == 0:
        return None, True
    return [total * (k + 1) / epochs for k in range(epochs)], True


def time_to_target(row: pd.Series, target: float | None) -> dict[str, Any]:
    """The first epoch whose val top-1 reaches ``target`` (None: no target set) and the wall time until its end."""
    top1 = curves(row).get(TARGET_CURVE, [])
    times, estimated = epoch_times(row, len(top1))
    reached = None if target is None else next((k for k, v in enumerate(top1) if v == v and v >= target), None)
    best = max((v for v in top1 if v == v), default=None)
    return {"reached_epoch": reached, F.time_to_target_s: times[reached] if reached is not None and times else None,
            "time_estimated": estimated if reached is not None else None, "best_val_top1": best}


def time_to_target_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Per training run with a val top-1 curve: the time to the target set for its dataset (report.target_top1)."""
    rows = []
    for index, row in records.iterrows():
        if TARGET_CURVE not in curves(row):
            continue
        target = report.target_top1.get(str(row.get(F.data)))
        rows.append({F.model: row[F.model], F.device: row[F.device], "measured_on": accuracy_label(row),
                     F.target_top1: target, **time_to_target(row, target),
                     F.run_id: row[F.run_id], RECORDS: [index]})
    return pd.DataFrame(rows)
