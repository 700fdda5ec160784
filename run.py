"""inception-bench entry point: ``python run.py [task=benchmark|train|eval|report|compare] model=... [-m sweeps]``.

The one place that knows every task: each maps to a function of its package, run inside the job
life cycle (``bench.job.lifecycle``) that writes the record, in a child process of its own for the
tasks in ``ISOLATED`` (``bench.job.isolation``; ``isolate=false`` runs them in-process).
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bench.benchmark.task import run_benchmark
from contracts.errors import ConfigError, check_choice
from bench.job.isolation import run_isolated
from bench.job.lifecycle import TaskFn, run_job
from bench.job.record import JobContext, is_multirun
from bench.job.signals import exit_code
from contracts.status import Status
from bench.report.compare import run_compare
from bench.report.task import run_report
from bench.training.task import run_eval, run_train

TASKS: dict[str, TaskFn] = {"benchmark": run_benchmark, "train": run_train, "eval": run_eval, "report": run_report}
TASKS["compare"] = run_compare  # two sets of records: ratios with intervals, verdicts, a regression gate
# isolate=auto runs these in a child process when run from the command line: a benchmark sweep is where jobs meet
# the OOM killer; called from Python (tests, a notebook) they run in-process, where a debugger or a patch reaches them
ISOLATED = {"benchmark"}
ISOLATE_CHOICES = ("auto", True, False)


def _refuse(error: ConfigError, cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    raise error


def run_task(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run ``cfg.task`` in its record's life cycle and return the final record (a bad task is recorded too)."""
    isolate = cfg.get("isolate", "auto")
    try:
        check_choice("task", cfg.task, TASKS)
        check_choice("isolate", isolate, ISOLATE_CHOICES)
    except ConfigError as exc:
        return run_job(cfg, out_dir, partial(_refuse, exc))
    if isolate is True or (isolate == "auto" and cfg.task in ISOLATED and HydraConfig.initialized()):
        return run_isolated(cfg, out_dir, TASKS[cfg.task])
    return run_job(cfg, out_dir, TASKS[cfg.task])


def exit_status(record: dict[str, Any]) -> int:
    """0 for ok; 128 + the signal for a job a signal ended (143: SIGTERM), as a shell reports it; else 1."""
    status = record["status"]
    if status == Status.OK:
        return 0
    if status == Status.INTERRUPTED:
        return exit_code(record["signal"])
    if status == Status.KILLED:
        return exit_code(record["killed_signal"]) if record.get("killed_signal") else int(record.get("exit_code") or 1)
    return 1


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    record = run_task(cfg, HydraConfig.get().runtime.output_dir)
    if record["status"] != Status.OK:
        print(f"error: {cfg.task} {record['status']}: {record['error']} (record: {record.get('out_dir')})", file=sys.stderr)
        if not is_multirun():
            sys.exit(exit_status(record))  # a sweep goes on (its report shows the job's status): never fail a job there
    return record.get(cfg.get("optimized_metric") or "", None)


if __name__ == "__main__":
    main()
