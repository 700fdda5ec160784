"""inception-bench entry point: ``python run.py [task=benchmark|train|eval|report|compare] model=... [-m sweeps]``.

The one place that knows every task: each maps to a function of its package, run inside the job
life cycle (``bench.job.lifecycle``) that writes the record, in a child process of its own for the
tasks in ``ISOLATED`` (``bench.job.isolation``; ``isolate=false`` runs them in-process). The job's identity
(``contracts.job.JobSpec``) is read from Hydra here, once, and passed down.

Composition is checked against the schema (``contracts.config``) before anything heavy is imported: a
task's package (torch, Lightning) is imported only once its config has passed, so a typo, a wrong type or
a value out of range ends a run in about a second, in one line (``cli``).
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import contracts.config  # noqa: F401  (registers the schemas in Hydra's ConfigStore before composition)
from bench.job.config import check_config
from bench.job.record import JobContext
from bench.job.signals import exit_code, stopped_by
from contracts.config_errors import one_line
from contracts.errors import check_choice
from contracts.job import JobSpec
from contracts.status import Status
from contracts.record import F

if TYPE_CHECKING:
    from bench.job.lifecycle import TaskFn

# "module:function", imported when a job runs: torch and Lightning load only after the config has passed
TASKS: dict[str, str] = {"benchmark": "bench.benchmark.task:run_benchmark", "train": "bench.training.task:run_train",
                         "eval": "bench.training.task:run_eval", "report": "bench.report.task:run_report",
                         # two sets of records: ratios with intervals, verdicts, a regression gate
                         "compare": "bench.report.compare:run_compare"}
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


def _refuse(error: Exception, cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    raise error


def task_function(task: str) -> TaskFn:
    module, _, name = TASKS[task].partition(":")
    return getattr(importlib.import_module(module), name)


def run_task(cfg: DictConfig, job: JobSpec | str | Path) -> dict[str, Any]:
    """Run ``cfg.task`` in its record's life cycle and return the final record (a bad task is recorded too).

    ``job``: the job's spec (``job_spec()`` under Hydra), or the output dir of a job called from Python.
    """
    from bench.job.isolation import run_isolated
    from bench.job.lifecycle import run_job

    spec = job if isinstance(job, JobSpec) else JobSpec.for_dir(job)
    isolate = cfg.get("isolate", "auto")
    try:
        check_choice("task", cfg.task, TASKS)
        check_choice("isolate", isolate, ISOLATE_CHOICES)
        check_config(cfg)  # here, not in an isolated child, whose copy of the config is plain YAML
    except Exception as exc:  # recorded: run_job's own check_config, or _refuse, raises it in the record's life cycle
        return run_job(cfg, spec, partial(_refuse, exc))
    if isolate is True or (isolate == "auto" and cfg.task in ISOLATED and spec.from_cli):
        return run_isolated(cfg, spec, task_function(cfg.task))
    return run_job(cfg, spec, task_function(cfg.task))


def exit_status(record: dict[str, Any]) -> int:
    """0 for ok; 128 + the signal for a job a signal ended (143: SIGTERM), as a shell reports it; else 1."""
    status = record[F.status]
    if status == Status.OK:
        return 0
    if status == Status.INTERRUPTED:
        return exit_code(record[F.signal])
    if status == Status.KILLED:
        return exit_code(record[F.killed_signal]) if record.get(F.killed_signal) else int(record.get(F.exit_code) or 1)
    return 1


def exit_one_line(exc: Exception) -> NoReturn:
    """Exit 1 printing the one line a bad config deserves; anything else (a bug) is raised on."""
    line = one_line(exc)
    if line is None:
        raise exc
    print(f"error: {line}", file=sys.stderr)
    sys.exit(1)  # SystemExit passes Hydra's job runner, which would log an exception in a second line


def refuse_bad_config(cfg: DictConfig) -> None:
    """The composed config's checks (``check_config``: missing values, the schema's ranges), before a task's
    package is imported."""
    try:
        check_config(cfg)
    except Exception as exc:
        exit_one_line(exc)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    spec = job_spec()
    if not spec.multirun:  # a single run refuses a bad config at once; a sweep records it and goes on
        refuse_bad_config(cfg)
    record = run_task(cfg, spec)
    if record.get(F.write_error):  # the measurement is kept (stdout, the fallback dir), but not where it was asked
        print(f"error: {record[F.write_error]}; record kept in {record.get(F.record_fallback) or 'the stdout line'}",
              file=sys.stderr)
        if not spec.multirun and record[F.status] == Status.OK:
            sys.exit(1)
    if record[F.status] != Status.OK:
        print(f"error: {cfg.task} {record[F.status]}: {record[F.error]} (record: {spec.out_dir})", file=sys.stderr)
        if not spec.multirun:
            sys.exit(exit_status(record))  # a sweep goes on (its report shows the job's status): never fail a job there
    return record.get(cfg.get("optimized_metric") or "", None)


def cli() -> None:
    """``main`` with a failed composition or config check as one line and exit status 1.

    Hydra prints a composition error in several lines unless ``HYDRA_FULL_ERROR=1``, when it raises it: set here,
    so the error reaches this frame and ``one_line`` says it. A user who sets HYDRA_FULL_ERROR=1 keeps the trace.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except Exception as exc:
        exit_one_line(exc)


if __name__ == "__main__":
    cli()
    if stopped_by():  # a sweep a stop signal ended, its jobs recorded and its report written: exit as the shell expects
        sys.exit(exit_code(stopped_by()))
