"""Speed tables: serving latency, devices side by side, where the time goes, the seed documents' block pairs.

Same contract as ``tables``: builders take (report, records) and return a DataFrame with a ``RECORDS`` column.
"""
from __future__ import annotations

import pandas as pd

from bench.report.records import Report
from bench.report.seed_pairs import SEED_MODELS, pair_table
from bench.report.tables import LATENCY_SCENARIOS, RECORDS, ok, pick
from contracts.record import F

THROUGHPUT_SCENARIOS = ("tf_book", "offline")  # a fixed batch run as fast as it goes (or no scenario at all)
GROUP = [F.model, F.precision, F.mode]                # what one device comparison holds fixed


def throughput_records(records: pd.DataFrame) -> pd.DataFrame:
    bench = ok(records, F.images_per_s, F.batch_size)
    bench = bench[bench[F.task] == "benchmark"]
    return bench[bench[F.scenario].isna() | bench[F.scenario].isin(THROUGHPUT_SCENARIOS)]


def utilization_records(records: pd.DataFrame) -> pd.DataFrame:
    return throughput_records(ok(records, F.achieved_tflops, F.peak_tflops))


# ------------------------------------------------------------------------------------------- serving
def serving_records(records: pd.DataFrame) -> pd.DataFrame:
    served = ok(records, F.latency_p50_s)
    return served[served[F.scenario].isin(LATENCY_SCENARIOS)]


def serving_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """One row per serving run: the load it took and the latency it gave."""
    return pick(records, (F.scenario, F.model, F.device, F.precision, F.batch_size, F.queries, F.qps_offered,
                          F.qps_achieved, F.images_per_s, F.latency_p50_s, F.latency_p99_s, F.slo_s, F.slo_met,
                          F.max_qps_at_slo, F.noisy, F.run_id))


# ------------------------------------------------------------------------------------------- devices
def group_label(records: pd.DataFrame) -> pd.Series:
    """``googlenet fp32 forward``: what a device comparison holds fixed."""
    return records[F.model].astype(str) + " " + records[F.precision].astype(str) + " " + records[F.mode].astype(str)


def device_records(records: pd.DataFrame) -> pd.DataFrame:
    """Per model, precision and mode measured on two devices or more: each device's fastest run."""
    bench = throughput_records(records)
    if bench.empty:
        return bench
    keys = group_label(bench)
    shared = bench[keys.map(bench.groupby(keys)[F.device].nunique()) > 1]
    if shared.empty:
        return shared
    best = shared.groupby([*GROUP, F.device], dropna=False)[F.images_per_s].idxmax()
    return shared.loc[sorted(best.to_numpy())]


def device_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """The fastest run of each model / precision / mode on each device, with its share of that device's peak."""
    ordered = records.sort_values([*GROUP, F.device])
    return pick(ordered, (*GROUP, F.device, F.batch_size, F.images_per_s, F.achieved_tflops, F.peak_tflops,
                          F.utilization, F.run_id))


# ------------------------------------------------------------------------------- where the time goes
def _has_modules(value: object) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(isinstance(m, dict) for m in value)


def profiled_records(records: pd.DataFrame) -> pd.DataFrame:
    return records[records[F.modules].map(_has_modules)] if F.modules in records else records.iloc[0:0]


def loader_records(records: pd.DataFrame) -> pd.DataFrame:
    return ok(records, F.pipeline_images_per_s)


def time_records(records: pd.DataFrame) -> pd.DataFrame:
    chosen = profiled_records(records).index.union(loader_records(records).index)
    return records.loc[chosen]


def pipeline_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Input pipeline vs model speed: ``data_bound`` when the loader cannot feed the model."""
    return pick(loader_records(records), (F.model, F.device, F.decode, F.batch_size, F.pipeline_images_per_s,
                                          F.pipeline_images_per_s_per_worker, F.model_images_per_s, F.data_bound,
                                          F.workers_needed, F.run_id))


MODULES_SHOWN = 8  # per profiled run, the modules that take the most time


def modules_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Per profiled run, its costliest modules: share of step time beside share of FLOPs."""
    rows = []
    for index, row in profiled_records(records).iterrows():
        top = sorted(row[F.modules], key=lambda m: -(m.get("time_share") or 0))[:MODULES_SHOWN]
        rows += [{F.model: row[F.model], F.device: row[F.device], F.run_id: row[F.run_id], "module": m.get("name"),
                  "time_share": m.get("time_share"), "flop_share": m.get("flop_share"),
                  "gflops_per_s": m.get("gflops_per_s"), RECORDS: [index]} for m in top]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------- seed pairs
def seed_pair_records(records: pd.DataFrame) -> pd.DataFrame:
    bench = ok(records, F.mean_s, F.gmacs_per_image)
    return bench[(bench[F.task] == "benchmark") & bench[F.model].isin(SEED_MODELS)]


def seed_pair_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Per block pair, device and mode, how many times fewer FLOPs and less time the improved block takes."""
    return pair_table(records)
