"""The report's sections, in page order: what each compares, which records it draws from, and its tables.

The markdown and the dashboard both walk this one list (the dashboard adds plots per section key), so a
section exists in both or neither, and only when its records exist.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from bench.report import curves, pipeline, speed, tables
from bench.report import time_to_accuracy as tta
from bench.report.records import Report
from contracts.record import F

TableFn = Callable[[Report, pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class Section:
    key: str
    what: str                                        # what it compares (the heading adds the devices)
    select: Callable[[pd.DataFrame], pd.DataFrame]   # the records it draws from: none, no section
    tables: tuple[tuple[str, TableFn], ...] = ()     # (sub-heading or "", builder)

    def records(self, report: Report) -> pd.DataFrame:
        if self.key not in report.selected:  # the markdown and the dashboard ask for the same
            report.selected[self.key] = self.select(report.records)
        return report.selected[self.key]

    def built_tables(self, report: Report) -> list[tuple[str, pd.DataFrame]]:
        """(sub-heading, table) per table of this section, from its records."""
        if self.key not in report.built:
            records = self.records(report)
            report.built[self.key] = [(title, build(report, records)) for title, build in self.tables]
        return report.built[self.key]


def _every(records: pd.DataFrame) -> pd.DataFrame:
    return records


def devices_text(records: pd.DataFrame) -> str:
    """``on A`` / ``on A and B (each in its own plot)``: the devices a view's figures come from."""
    devices = sorted(d for d in records[F.device].dropna().unique())
    if not devices:
        return "device not recorded"
    if len(devices) == 1:
        return f"on {devices[0]}"
    return f"on {', '.join(devices[:-1])} and {devices[-1]}"


def heading(section: Section, records: pd.DataFrame) -> str:
    return f"{section.what} — {devices_text(records)}"


SECTIONS: tuple[Section, ...] = (
    Section("status", "Job status (a running job whose process is gone shows as dead)", _every,
            (("Jobs per status", tables.status_table), ("Jobs that did not end ok", tables.problems_table))),
    Section("throughput", "Throughput (images/s) vs batch size, one line per sweep and setting, per device",
            speed.throughput_records),
    Section("serving", "Latency (p50, p99) vs throughput in the serving scenarios, per device",
            speed.serving_records, (("Serving runs", speed.serving_table),)),
    Section("devices", "One model and precision across devices: images/s and share of each device's peak",
            speed.device_records, (("Fastest run per device", speed.device_table),)),
    Section("utilization", "Achieved vs peak TFLOP/s, per device", speed.utilization_records),
    Section("time", "Where the time goes: module time share vs FLOP share, input pipeline vs model",
            speed.time_records, (("Input pipeline vs model", speed.pipeline_table),
                                 ("Costliest modules per profiled run", speed.modules_table))),
    Section("train_speed", "Training throughput beside bench=train_step (same model, batch, input size, device) "
            "and the loader's wait share of each step", pipeline.train_records,
            (("", pipeline.train_vs_step_table),)),
    Section("seed_pairs", "The seed documents' block pairs: FLOP ratio vs time ratio (baseline / improved)",
            speed.seed_pair_records, (("", speed.seed_pair_table),)),
    Section("table3", "Rethinking Table 3: measured top-1/top-5 error beside the paper's", tables.table3_records,
            (("ImageNet val, single crop, beside the paper (single crop, 48,238 val images)", tables.table3_table),
             ("Other datasets: smoke tests, not comparable with the paper", tables.table3_other_table))),
    Section("accuracy", "Top-1 on ImageNet val beside the papers' figures (same crop protocol)",
            tables.imagenet_records, (("", tables.paper_accuracy_table),)),
    Section("other_accuracy", "Top-1 on other datasets or protocols (no paper figure applies)",
            tables.other_dataset_records, (("", tables.other_accuracy_table),)),
    Section("cost", "Published vs counted parameters and GMACs per image", tables.cost_records,
            (("", tables.cost_table),)),
    Section("training", "Training curves and time to the target top-1 (report.target_top1), per dataset and device",
            curves.trained_records, (("Time to target top-1", curves.time_to_target_table),)),
    Section("time_to_accuracy", "Time to accuracy over seeds (train.target_top1), MLPerf's score, per model, recipe "
            "and device", tta.tta_records, (("Runs to the target, scored", tta.comparison_table),
                                            ("Device against device, same recipe", tta.device_table))),
    Section("tf_book", "Inception-v3 forward, batch 32, 299x299: the TF book's 0.168 ± 0.002 s/batch beside "
            "this harness", tables.book_records, (("", tables.book_table),)),
    Section("runs", "Runs", _every, (("", tables.runs_table),)),
)
