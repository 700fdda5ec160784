"""Training throughput beside the benchmark's: does a ``task=train`` run reach the ``bench=train_step`` speed of
the same model, batch and device, and if not, is its loader to blame (its wait share of each step)?

Same contract as ``tables``: builders take (report, records) and return a DataFrame with a ``RECORDS`` column.
"""
from __future__ import annotations

import pandas as pd

from bench.report.records import Report
from bench.report.tables import RECORDS, ok
from contracts.record import F

MATCH = [F.model, F.batch_size, F.input_size, F.device]  # what a training run and its benchmark share


def _train_steps(records: pd.DataFrame) -> pd.DataFrame:
    """``bench=train_step`` records (forward + backward + optimiser step on synthetic input)."""
    bench = ok(records, F.images_per_s, F.batch_size)
    if F.mode not in bench:
        return bench.iloc[0:0]
    return bench[(bench[F.task] == "benchmark") & (bench[F.mode] == "forward_backward")]


def train_records(records: pd.DataFrame) -> pd.DataFrame:
    """Training runs that timed their steps (lightning_modules.throughput), with their matching benchmarks."""
    trained = ok(records, F.steady_images_per_s, F.batch_size)
    trained = trained[trained[F.task] == "train"]
    if trained.empty:
        return trained
    return records.loc[trained.index.union(_train_steps(records).index)]


def train_vs_step_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """One row per training run: its img/s and loader wait beside the fastest ``train_step`` benchmark that
    matches it (same model, batch, input size and device); no match leaves those cells empty."""
    trained = ok(records, F.steady_images_per_s)
    trained = trained[trained[F.task] == "train"]
    steps = _train_steps(records)
    rows = []
    for index, run in trained.iterrows():
        same = steps[(steps[MATCH] == run[MATCH]).all(axis=1)] if not steps.empty else steps
        best = same.loc[same[F.images_per_s].idxmax()] if not same.empty else None
        bench_ips = float(best[F.images_per_s]) if best is not None else None
        rows.append({
            **{k: run[k] for k in MATCH},
            F.steady_images_per_s: run[F.steady_images_per_s],
            F.loader_wait_share: run.get(F.loader_wait_share),
            F.data_bound: run.get(F.data_bound),
            F.batch_step_kernel: run.get(F.batch_step_kernel),
            F.batch_step_on: run.get(F.batch_step_on),
            F.jpeg_decoder: run.get(F.jpeg_decoder),
            "train_step_images_per_s": bench_ips,
            "train / train_step": run[F.steady_images_per_s] / bench_ips if bench_ips else None,
            F.run_id: run[F.run_id],
            RECORDS: [int(index)] + ([int(best.name)] if best is not None else []),
        })
    return pd.DataFrame(rows)
