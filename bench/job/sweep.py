"""A sweep stopped by a signal, on any launcher: its running jobs stop, the jobs not started are recorded, it reports.

The basic launcher runs jobs in its own process, where each job's stop handling (``signals``) sees the
signal. A joblib or SLURM launcher runs them elsewhere, so a SIGTERM to the launcher alone would end it
at once, leaving the jobs orphaned and the rest unrecorded. The launchers of ``hydra_plugins.inception_bench``
(the ones ``hydra/launcher=...`` selects) wrap their sweep in the functions here:

- the launcher notes the first stop signal and passes it on (to its loky workers, or ``scancel`` of the
  SLURM array); each running job stops cleanly and records ``interrupted`` at its step;
- no job starts after the stop: a joblib worker notes the signal between jobs (``worker_init``) and
  records the jobs it still holds without running them, and the launcher dispatches no more
  (``UntilStopped``);
- every job left without a final record is recorded here, in the launcher's process, by Hydra's own
  ``run_job`` with the stop already noted: ``interrupted``, ``step_reached`` 0, ``error`` "not started: ...",
  with its overrides, in its own job dir (``finish_stopped``);
- the sweep then returns normally, so Hydra ends the multirun with its report; ``run.py`` exits with the
  signal's code (``signals.exit_code``).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, run_job as hydra_run_job
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.job.record import RECORD_FILE
from bench.job.signals import GRACE_S, STOP_SIGNALS, ForwardSignals, kill_quietly, note_stop
from contracts.status import FINAL_STATUSES
from contracts.record import F

log = logging.getLogger(__name__)
SETTLE_S = GRACE_S + 20.0  # how long a stopped job's own process may take to write its final record


def _note_only(signum: int, frame: FrameType | None) -> None:
    note_stop(signum)


def worker_init() -> None:
    """A joblib (loky) worker, from its start: a stop signal between jobs is noted, never fatal.

    A job running in the worker installs its own handlers over these (and restores them); a job the
    worker starts after a noted stop is recorded without running (``lifecycle.run_job``).
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, _note_only)


class UntilStopped(Sequence[Sequence[str]]):
    """The sweep's job overrides, as a launcher iterates them: iteration ends once ``stop`` has received a signal."""

    def __init__(self, jobs: Sequence[Sequence[str]], stop: ForwardSignals) -> None:
        self.jobs, self.stop = list(jobs), stop

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: Any) -> Any:
        return self.jobs[index]

    def __iter__(self) -> Iterator[Sequence[str]]:
        for overrides in self.jobs:
            if self.stop.received is not None:
                return
            yield overrides


def _job_config(hydra_context: HydraContext, config: DictConfig, overrides: Sequence[str], num: int) -> DictConfig:
    """One job's config as a launcher builds it (``hydra.job.num`` and ``id`` set)."""
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{num}"
        sweep_config.hydra.job.num = num
    return sweep_config


def _job_dir(sweep_config: DictConfig) -> Path:
    saved = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(sweep_config)  # the subdir interpolates hydra.job.* (as run_job resolves it)
    try:
        return Path(str(sweep_config.hydra.sweep.dir), str(OmegaConf.select(sweep_config, "hydra.sweep.subdir")))
    finally:
        HydraConfig.instance().cfg = saved


def _status(job_dir: Path) -> str | None:
    try:
        return json.loads((job_dir / RECORD_FILE).read_text()).get(F.status)
    except (OSError, ValueError):
        return None


def _settled(job_dir: Path, seconds: float) -> str | None:
    """The record's status once final, waiting up to ``seconds`` while it is still ``running`` (its job is stopping)."""
    deadline = time.monotonic() + seconds
    status = _status(job_dir)
    while status is not None and status not in FINAL_STATUSES and time.monotonic() < deadline:
        time.sleep(0.2)
        status = _status(job_dir)
    return status


def _returned(sweep_config: DictConfig, overrides: Sequence[str]) -> JobReturn:
    """What the launcher returns for a job that ran elsewhere and recorded itself (its value is in the record)."""
    task_cfg = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config if k != "hydra"])
    return JobReturn(overrides=list(overrides), cfg=task_cfg, hydra_cfg=sweep_config, working_dir=os.getcwd(),
                     task_name=str(sweep_config.hydra.job.name), status=JobStatus.COMPLETED, _return_value=None)


def finish_stopped(hydra_context: HydraContext, config: DictConfig, task_function: TaskFunction,
                   jobs: Sequence[Sequence[str]], initial_job_idx: int, returned: dict[int, JobReturn]) -> list[JobReturn]:
    """Every job of a stopped sweep, in order: the ones that returned, then each other one by its record.

    A job with a final record keeps it; one still ``running`` gets ``SETTLE_S`` to finish stopping (it keeps
    its ``running`` record if its process never ends it: a report calls it ``dead`` once the process is
    gone); a job with no record was never started and is recorded so here, by the task function itself.
    """
    results: list[JobReturn] = []
    for offset, overrides in enumerate(jobs):
        num = initial_job_idx + offset
        if num in returned:
            results.append(returned[num])
            continue
        sweep_config = _job_config(hydra_context, config, overrides, num)
        status = _settled(_job_dir(sweep_config), SETTLE_S)
        if status is None:
            results.append(hydra_run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                                         job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
        else:
            if status not in FINAL_STATUSES:
                log.warning("job %d still has a %s record after the stop: %s", num, status, _job_dir(sweep_config))
            results.append(_returned(sweep_config, overrides))
    return results


def forward_to_loky_workers(signum: int) -> None:
    """Pass a stop signal to joblib's (loky's) worker processes; none before the first ``Parallel`` starts them.

    loky keeps one reusable executor per process; its ``_processes`` (pid -> process, as in
    ``concurrent.futures``) lists exactly the workers (not loky's resource tracker, which SIGUSR1 would kill).
    """
    from joblib.externals.loky import reusable_executor

    for pid in list(getattr(reusable_executor._executor, "_processes", None) or {}):
        kill_quietly(pid, signum)


def shutdown_loky() -> None:
    """End joblib's reusable workers now (they would idle for minutes): a stopped sweep leaves no process behind."""
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


class SlurmCancel:
    """A SLURM sweep's stop: ``scancel`` its arrays (running tasks get SIGTERM, pending ones never start).

    submitit names each task's folder ``<array id>_<index>`` under ``folder`` once the array is submitted; a stop
    during the submission is caught by looking again every half second until ``done`` is set.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cancelled: set[str] = set()
        self.done = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, signum: int) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._cancel, name="slurm-cancel", daemon=True)
            self._thread.start()

    def _arrays(self) -> set[str]:
        return {p.name.split("_")[0] for p in self.folder.glob("*_*") if p.is_dir()} if self.folder.is_dir() else set()

    def _cancel(self) -> None:
        while True:
            for array in sorted(self._arrays() - self.cancelled):
                log.warning("stop: scancel %s", array)
                subprocess.run(["scancel", array], capture_output=True, timeout=30)
                self.cancelled.add(array)
            if self.done.wait(0.5):
                return


def stoppable(launch: Callable[[Sequence[Sequence[str]], ForwardSignals], list[JobReturn]],
              forward: Callable[[int], None], hydra_context: HydraContext, config: DictConfig,
              task_function: TaskFunction, jobs: Sequence[Sequence[str]], initial_job_idx: int,
              broken: tuple[type[BaseException], ...] = ()) -> list[JobReturn]:
    """Run ``launch(jobs, stop)`` with the launcher's stop handling (``forward`` passes a signal on to the jobs);
    after a stop, ``finish_stopped`` the sweep.

    ``broken``: the errors ``launch`` may raise because of the stop itself (a worker killed by the signal
    before it could note it, a cancelled SLURM task's missing result); the records tell what happened.
    """
    jobs = list(jobs)
    with ForwardSignals(forward) as stop:
        try:
            runs = launch(jobs, stop)
        except broken as exc:
            if stop.received is None:
                raise
            log.warning("sweep stopped by %s: %s", stop.received.name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            runs = []
        if stop.received is None:
            return runs
        log.warning("sweep stopped by %s: recording the jobs it did not finish", stop.received.name)
        returned = {initial_job_idx + i: run for i, run in enumerate(runs)}
        return finish_stopped(hydra_context, config, task_function, jobs, initial_job_idx, returned)
