"""Hydra's basic, joblib and SLURM launchers, each with the sweep's stop handling of ``bench.job.sweep``.

Hydra only instantiates launchers found under the ``hydra_plugins`` namespace package; these subclasses
are selected by ``conf/hydra/launcher/{basic,local_parallel,slurm}.yaml``. Hydra imports this module at
every start (plugin discovery), so the work is imported only when a sweep launches.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


class StoppableBasicLauncher(BasicLauncher):
    """Jobs one after another in this process: each job sees a stop signal itself; between jobs it is noted here."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from bench.job import sweep

        def launch(jobs: Sequence[Sequence[str]], stop: Any) -> list[JobReturn]:
            return list(super(StoppableBasicLauncher, self).launch(jobs, initial_job_idx))

        return sweep.stoppable(launch, lambda signum: None, self.hydra_context, self.config, self.task_function,
                               job_overrides, initial_job_idx)


class StoppableJoblibLauncher(JoblibLauncher):
    """Jobs in joblib's loky workers: a stop signal to this process is passed to the workers, no job starts after it,
    and the workers are ended with the sweep."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib.externals.loky.process_executor import BrokenProcessPool

        from bench.job import sweep
        from bench.job.signals import stopped_by

        def launch(jobs: Sequence[Sequence[str]], stop: Any) -> list[JobReturn]:
            self.joblib["initializer"] = sweep.worker_init  # passed by joblib.Parallel to loky's executor
            return list(super(StoppableJoblibLauncher, self).launch(sweep.UntilStopped(jobs, stop), initial_job_idx))

        try:
            return sweep.stoppable(launch, sweep.forward_to_loky_workers, self.hydra_context, self.config,
                                   self.task_function, job_overrides, initial_job_idx, broken=(BrokenProcessPool,))
        finally:
            if stopped_by() is not None:
                sweep.shutdown_loky()


class StoppableSlurmLauncher(SlurmLauncher):
    """One SLURM array per sweep: a stop signal to the submitting process ``scancel``s the array (running tasks
    record ``interrupted``, pending ones never start and are recorded here)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import UncompletedJobError

        from bench.job import sweep

        cancel = sweep.SlurmCancel(Path(str(self.params["submitit_folder"])).parent)

        def launch(jobs: Sequence[Sequence[str]], stop: Any) -> list[JobReturn]:
            return list(super(StoppableSlurmLauncher, self).launch(jobs, initial_job_idx))

        try:
            return sweep.stoppable(launch, cancel, self.hydra_context, self.config, self.task_function,
                                   job_overrides, initial_job_idx, broken=(UncompletedJobError,))
        finally:
            cancel.done.set()
