"""Energy to train: the energy counters (``bench.job.energy``) read over the training clock's windows, summed over ranks.

``EnergyToTrain`` (``callbacks.energy``) hands its meter to the training clock (``EpochRecorder.add_window``),
which opens a window each time it starts and closes it each time it stops: the joules hold what the clock's
seconds hold (training; neither validation nor init). Which rank reads what is ``ENERGY_RULE``, stated in every
record's ``clock``; the sum over ranks is ``job_energy``.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from bench.job.energy import MIN_ENERGY_WINDOW_S, Counter, EnergyMeter, short_window
from contracts.record import Energy, F
from lightning_modules.callbacks import EpochRecorder, recorder_of

log = logging.getLogger(__name__)

ENERGY_RULE = (
    "energy_j: joules over the clock's windows only (the counters are read each time the clock starts and stops: "
    "validation and init excluded), summed over ranks. On a GPU every rank reads its own GPU's NVML total-energy "
    "counter (the CPU is not counted); on a CPU a RAPL package counter covers the whole node, so it is read once "
    "per node, by local rank 0 only (every process on the node, and anything else running there, is in it). "
    "No readable counter on a rank that reads one, or one failed read: energy_j null, energy_note says why, "
    "never a part-sum. A resumed run adds the joules its checkpoint carries; a checkpoint holds rank 0's only, "
    "so a resumed run with several counting ranks is null.")


def job_energy(joules: float | None, counting: bool, reduce: Any) -> tuple[float, int]:
    """This rank's joules summed over the job's ranks (``reduce``: a sum over ranks, the strategy's): the total and
    how many counting ranks had no figure. A rank that does not count (a per-node counter off local rank 0) adds 0."""
    missing = counting and joules is None
    local = torch.tensor([joules if counting and joules is not None else 0.0, float(missing)], dtype=torch.float64)
    total_j, missed = (float(v) for v in reduce(local))
    return total_j, int(round(missed))


class EnergyToTrain(Callback):
    """The training run's energy over its clock's windows (see the module docstring and ``ENERGY_RULE``).

    ``counter`` stands in for the device's (tests); otherwise each rank's device picks it: NVML's counter of its
    GPU, or RAPL's packages (``powercap``, /sys/class/powercap by default) on a CPU. Kept in checkpoints: a resumed
    run adds the energy of its earlier segments.
    """

    def __init__(self, counter: Counter | None = None, powercap: str | None = None) -> None:
        self.given, self.powercap = counter, Path(powercap) if powercap else None
        self.meter: EnergyMeter | None = None
        self.counting = True       # this rank reads a counter (a per-node one: local rank 0 only)
        self.counting_ranks = 1    # ranks that read one, the job over
        self.prior_j: float | None = 0.0   # earlier segments' joules (None: unknown, prior_note says why)
        self.prior_note: str | None = None
        self.restored = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if self.meter is None:
            device = trainer.strategy.root_device
            self.meter = EnergyMeter(device, self.powercap, counter=self.given)
            per_node = self.meter.counter.per_node if self.meter.counter is not None else device.type != "cuda"
            self.counting = not per_node or trainer.local_rank == 0
            self.counting_ranks = trainer.num_nodes if per_node else trainer.world_size
        if self.counting:
            recorder_of(trainer).add_window(self.meter)

    def state_dict(self) -> dict[str, Any]:
        # taken when a checkpoint is written (mid-window too): this rank's joules so far, the open window's included
        so_far = self.meter.measured_j() if self.meter is not None else 0.0
        total = None if self.prior_j is None or so_far is None else self.prior_j + so_far
        note = self.prior_note or (self.meter.note if self.meter is not None else None)
        return {F.energy_j: total, F.energy_note: note, "counting_ranks": self.counting_ranks}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.restored = True
        self.prior_j, self.prior_note = state_dict.get(F.energy_j), state_dict.get(F.energy_note)
        if self.prior_j is not None and state_dict.get("counting_ranks", 1) > 1:
            self.prior_j = None
            self.prior_note = ("not measured: the checkpoint holds rank 0's energy only, and "
                               f"{state_dict['counting_ranks']} ranks read counters before the resume")
        elif self.prior_j is None and self.prior_note is None:
            self.prior_note = "not measured before the resume"

    def figures(self, trainer: pl.Trainer, recorder: EpochRecorder) -> dict[str, Any]:
        """The record's ``Energy`` fields, summed over ranks (a collective: every rank calls it, as fit ends)."""
        mine = self.meter.measured_j() if self.meter is not None else None
        total_j, missed = job_energy(mine, self.counting, lambda t: trainer.strategy.reduce(
            t.to(trainer.strategy.root_device), reduce_op="sum").cpu())
        source = self.meter.source if self.meter is not None else None
        note = None
        if missed:
            note = (self.meter.note if self.meter is not None and self.meter.note else
                    f"not measured: {missed} of {self.counting_ranks} counting ranks had no counter or a failed read")
        elif recorder.segments > 1 and not self.restored:
            note = "not measured before the resume: the checkpoint carries no energy"
        elif self.prior_j is None:
            note = self.prior_note
        elif recorder.elapsed() < MIN_ENERGY_WINDOW_S:
            note = short_window(recorder.elapsed())
        if note is not None:
            log.info("energy to train %s", note)
            return asdict(Energy(energy_source=source, energy_note=note))
        joules, seconds = self.prior_j + total_j, recorder.elapsed()
        return asdict(Energy(energy_j=joules, power_w=joules / seconds, energy_source=source,
                             energy_j_per_image=joules / recorder.images if recorder.images else None))


def not_metered() -> dict[str, Any]:
    """The energy fields of a run without ``callbacks.energy``."""
    return asdict(Energy(energy_note="not measured: callbacks.energy is off"))
