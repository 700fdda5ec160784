"""inception-bench entry point: ``python run.py [task=benchmark|train|eval|report] model=... [-m sweeps]``.

The one place that knows every task: each maps to a function of its package, run inside the job
life cycle (``bench.job.lifecycle``) that writes the record, in a child process of its own for the
tasks in ``ISOLATED`` (``bench.job.isolation``; ``isolate=false`` runs them in-process). The job's identity
(``contracts.job.JobSpec``) is read from Hydra here, once, and passed down.
"""
from __future__ import annotations

import re
import sys
from functools import partial
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from bench.benchmark.task import run_benchmark
from contracts.errors import ConfigError, check_choice
from bench.job.isolation import run_isolated
from bench.job.lifecycle import TaskFn, run_job
from bench.job.record import JobContext
from bench.job.signals import exit_code
from contracts.job import JobSpec
from contracts.status import Status
from bench.report.task import run_report
from bench.training.task import run_eval, run_train

TASKS: dict[str, TaskFn] = {"benchmark": run_benchmark, "train": run_train, "eval": run_eval, "report": run_report}
# isolate=auto runs these in a child process when run from the command line: a benchmark sweep is where jobs meet
# the OOM killer; called from Python (tests, a notebook) they run in-process, where a debugger or a patch reaches them
ISOLATED = {"benchmark"}
ISOLATE_CHOICES = ("auto", True, False)
CONFIG_FLAG = r"--config-(name|path|dir)=|-c[npd]="  # the command line's flags that choose the primary config


def job_spec() -> JobSpec:
    """This Hydra job's identity, read from ``HydraConfig`` here and nowhere else (tests/test_layout.py holds to it)."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    sweep_dir = Path(hc.sweep.dir).resolve() if multirun else None
    # resolved here, as Hydra resolved it to set up this job's logging (its log file is in the job's dir)
    job_logging = OmegaConf.to_container(hc.job_logging, resolve=True) if hc.job_logging is not None else None
    verbose = hc.verbose
    return JobSpec(
        out_dir=str(Path(hc.runtime.output_dir).resolve()),
        multirun=multirun,
        sweep_id=sweep_dir.name if sweep_dir else None,
        sweep_dir=str(sweep_dir) if sweep_dir else None,
        job_num=hc.job.num if multirun else None,
        overrides=tuple(hc.overrides.task),
        from_cli=True,
        job_logging=job_logging,
        verbose=list(verbose) if OmegaConf.is_list(verbose) else verbose,
        hydra_overrides=tuple(hc.overrides.hydra),
        config_flags=tuple(a for a in sys.argv[1:] if re.match(CONFIG_FLAG, a)),
    )


def _refuse(error: ConfigError, cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    raise error


def run_task(cfg: DictConfig, job: JobSpec | str | Path) -> dict[str, Any]:
    """Run ``cfg.task`` in its record's life cycle and return the final record (a bad task is recorded too).

    ``job``: the job's spec (``job_spec()`` under Hydra), or the output dir of a job called from Python.
    """
    spec = job if isinstance(job, JobSpec) else JobSpec.for_dir(job)
    isolate = cfg.get("isolate", "auto")
    try:
        check_choice("task", cfg.task, TASKS)
        check_choice("isolate", isolate, ISOLATE_CHOICES)
    except ConfigError as exc:
        return run_job(cfg, spec, partial(_refuse, exc))
    if isolate is True or (isolate == "auto" and cfg.task in ISOLATED and spec.from_cli):
        return run_isolated(cfg, spec, TASKS[cfg.task])
    return run_job(cfg, spec, TASKS[cfg.task])


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
    spec = job_spec()
    record = run_task(cfg, spec)
    if record["status"] != Status.OK:
        print(f"error: {cfg.task} {record['status']}: {record['error']} (record: {spec.out_dir})", file=sys.stderr)
        if not spec.multirun:
            sys.exit(exit_status(record))  # a sweep goes on (its report shows the job's status): never fail a job there
    return record.get(cfg.get("optimized_metric") or "", None)


if __name__ == "__main__":
    main()
