"""inception-bench entry point: ``python run.py [task=benchmark|train|eval|report] model=... [-m sweeps]``.

The one place that knows every task: each maps to a function of its package, run inside the job
life cycle (``bench.job.lifecycle``) that writes the record.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bench.benchmark.task import run_benchmark
from bench.job.errors import check_choice
from bench.job.lifecycle import TaskFn, run_job
from bench.job.record import is_multirun
from bench.job.status import Status
from bench.report.task import run_report
from bench.training.task import run_eval, run_train

TASKS: dict[str, TaskFn] = {"benchmark": run_benchmark, "train": run_train, "eval": run_eval, "report": run_report}


def run_task(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run ``cfg.task`` in its record's life cycle and return the final record."""
    check_choice("task", cfg.task, TASKS)
    return run_job(cfg, out_dir, TASKS[cfg.task])


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    record = run_task(cfg, HydraConfig.get().runtime.output_dir)
    if record["status"] != Status.OK:
        print(f"error: {cfg.task} {record['status']}: {record['error']} (record: {record.get('out_dir')})", file=sys.stderr)
        if not is_multirun():
            sys.exit(1)  # a sweep goes on; its report shows the failed job's status
    return record.get(cfg.get("optimized_metric") or "", None)


if __name__ == "__main__":
    main()
