"""Speed tables: serving latency, devices side by side, where the time goes, the seed documents' block pairs.

Same contract as ``tables``: builders take (report, records) and return a DataFrame with a ``RECORDS`` column.
"""
from __future__ import annotations

import pandas as pd

from bench.report.records import Report
from bench.report.seed_pairs import SEED_MODELS, pair_table
from bench.report.tables import LATENCY_SCENARIOS, RECORDS, ok, pick

THROUGHPUT_SCENARIOS = ("tf_book", "offline")  # a fixed batch run as fast as it goes (or no scenario at all)
GROUP = ["model", "precision", "mode"]                # what one device comparison holds fixed


def throughput_records(records: pd.DataFrame) -> pd.DataFrame:
    bench = ok(records, "images_per_s", "batch_size")
    bench = bench[bench["task"] == "benchmark"]
    return bench[bench["scenario"].isna() | bench["scenario"].isin(THROUGHPUT_SCENARIOS)]


def utilization_records(records: pd.DataFrame) -> pd.DataFrame:
    return throughput_records(ok(records, "achieved_tflops", "peak_tflops"))


# ------------------------------------------------------------------------------------------- serving
def serving_records(records: pd.DataFrame) -> pd.DataFrame:
    served = ok(records, "latency_p50_s")
    return served[served["scenario"].isin(LATENCY_SCENARIOS)]


def serving_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """One row per serving run: the load it took and the latency it gave."""
    return pick(records, ("scenario", "model", "device", "precision", "batch_size", "queries", "qps_offered",
                          "qps_achieved", "images_per_s", "latency_p50_s", "latency_p99_s", "slo_s", "slo_met",
                          "max_qps_at_slo", "noisy", "run_id"))


# ------------------------------------------------------------------------------------------- devices
def group_label(records: pd.DataFrame) -> pd.Series:
    """``googlenet fp32 forward``: what a device comparison holds fixed."""
    return records["model"].astype(str) + " " + records["precision"].astype(str) + " " + records["mode"].astype(str)


def device_records(records: pd.DataFrame) -> pd.DataFrame:
    """Per model, precision and mode measured on two devices or more: each device's fastest run."""
    bench = throughput_records(records)
    if bench.empty:
        return bench
    keys = group_label(bench)
    shared = bench[keys.map(bench.groupby(keys)["device"].nunique()) > 1]
    if shared.empty:
        return shared
    best = shared.groupby([*GROUP, "device"], dropna=False)["images_per_s"].idxmax()
    return shared.loc[sorted(best.to_numpy())]


def device_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """The fastest run of each model / precision / mode on each device, with its share of that device's peak."""
    ordered = records.sort_values([*GROUP, "device"])
    return pick(ordered, (*GROUP, "device", "batch_size", "images_per_s", "achieved_tflops", "peak_tflops",
                          "utilization", "run_id"))


# ------------------------------------------------------------------------------- where the time goes
def _has_modules(value: object) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(isinstance(m, dict) for m in value)


def profiled_records(records: pd.DataFrame) -> pd.DataFrame:
    return records[records["modules"].map(_has_modules)] if "modules" in records else records.iloc[0:0]


def loader_records(records: pd.DataFrame) -> pd.DataFrame:
    return ok(records, "pipeline_images_per_s")


def time_records(records: pd.DataFrame) -> pd.DataFrame:
    chosen = profiled_records(records).index.union(loader_records(records).index)
    return records.loc[chosen]


def pipeline_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Input pipeline vs model speed: ``data_bound`` when the loader cannot feed the model."""
    return pick(loader_records(records), ("model", "device", "decode", "batch_size", "pipeline_images_per_s",
                                          "pipeline_images_per_s_per_worker", "model_images_per_s", "data_bound",
                                          "workers_needed", "run_id"))


MODULES_SHOWN = 8  # per profiled run, the modules that take the most time


def modules_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Per profiled run, its costliest modules: share of step time beside share of FLOPs."""
    rows = []
    for index, row in profiled_records(records).iterrows():
        top = sorted(row["modules"], key=lambda m: -(m.get("time_share") or 0))[:MODULES_SHOWN]
        rows += [{"model": row["model"], "device": row["device"], "run_id": row["run_id"], "module": m.get("name"),
                  "time_share": m.get("time_share"), "flop_share": m.get("flop_share"),
                  "gflops_per_s": m.get("gflops_per_s"), RECORDS: [index]} for m in top]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------- seed pairs
def seed_pair_records(records: pd.DataFrame) -> pd.DataFrame:
    bench = ok(records, "mean_s", "gmacs_per_image")
    return bench[(bench["task"] == "benchmark") & bench["model"].isin(SEED_MODELS)]


def seed_pair_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Per block pair, device and mode, how many times fewer FLOPs and less time the improved block takes."""
    return pair_table(records)
