"""The DDP relaunch: Lightning starts ranks 1..N-1 as new processes, and they must run *this* job, in *its* dir.

Lightning's subprocess launcher (``strategy=ddp`` with ``devices>1``) starts each rank with ``sys.argv`` and,
when Hydra runs the process, ``hydra.run.dir=<HydraConfig run.dir>``. Inside a multirun that argv is the whole
sweep (``-m a=1,2``) and ``run.dir`` is not the job's dir, so each rank would start the sweep again elsewhere.
``prepare_ddp_relaunch`` points both at the job its spec describes: the job's own overrides, its output dir.
Lightning reads ``HydraConfig`` itself, so this module writes the job's dir there; it is the one module
below the entry point that touches Hydra's global, and it never reads the job's identity from it.
"""
from __future__ import annotations

import re
import sys

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import open_dict, read_write

from contracts.errors import ConfigError
from contracts.job import JobSpec

# hydra overrides a relaunched rank must not repeat: the sweep's, and those Lightning appends itself
RELAUNCH_DROPPED = r"hydra(\.mode|\.sweep|\.sweeper|\.launcher|/sweeper|/launcher|\.run\.dir|\.job\.name|\.output_subdir)"


def relaunch_argv(spec: JobSpec, argv0: str) -> list[str]:
    """The command line that starts this one job again: config flags, the kept ``hydra.*`` overrides, the job's own."""
    hydra_kept = [o for o in spec.hydra_overrides if not re.match(RELAUNCH_DROPPED, o.lstrip("+~"))]
    return [argv0, *spec.config_flags, *hydra_kept, *spec.overrides]


def prepare_ddp_relaunch(spec: JobSpec, trainer: pl.Trainer) -> None:
    """Make the ranks ``trainer``'s launcher starts run the job ``spec`` describes, in its dir (rank 0 only).

    A job called from Python keeps its own ``sys.argv``: Lightning reruns that script as it is.
    """
    relaunches = isinstance(trainer.strategy.launcher, _SubprocessScriptLauncher)
    if not relaunches or rank_zero_only.rank != 0 or not spec.from_cli:
        return
    if spec.isolated:  # the child's argv is `-m bench.job.isolation <spec dir>`: a rank would start a second child
        raise ConfigError("isolate=true with a DDP relaunch (trainer.devices>1, strategy=ddp) is not supported: "
                          "run the job with isolate=false or isolate=auto")
    hc = HydraConfig.get()
    with read_write(hc), open_dict(hc):
        hc.run.dir = spec.out_dir  # what Lightning passes each rank as hydra.run.dir
    sys.argv = relaunch_argv(spec, sys.argv[0])
