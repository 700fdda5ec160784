"""Training throughput as the loader benchmark measures it: img/s, the share of each step spent waiting for
data, and the verdict data-bound / compute-bound.

A training step, seen from the host, runs from one ``on_train_batch_end`` to the next. Between the end of a
step and the start of the next one, Lightning fetches the next batch (waiting for the workers), copies it to
the device and runs the DataModule's transfer hooks (the on-device augmentation): that gap is the wait for
data. The first step of each epoch waits for the workers to start (or restart) and is not counted; nor are
the epoch's validation and checkpointing, which happen outside the steps.

On CUDA the host runs ahead of the device, so a step's host time is the device's only once the queue is
full; the wait is still the time the host could not enqueue work for lack of a batch, which is what starves
the device.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

DATA_BOUND_RATIO = 0.9  # throughput below this fraction of the model alone: the input pipeline limits the run


@dataclass
class TrainThroughput:
    """The record's training-throughput fields (a ``task=train`` record)."""

    train_images_per_s: Optional[float] = None  # images / time of the counted steps (first step of each epoch left out)
    loader_wait_share: Optional[float] = None   # time the steps waited for data / their time, 0..1
    loader_wait_s: Optional[float] = None       # that waiting time, summed over the counted steps
    timed_steps: Optional[int] = None           # steps counted
    data_bound: Optional[bool] = None           # loader_wait_share > 1 - DATA_BOUND_RATIO (as bench.input=loader)
    batch_size: Optional[int] = None            # per-process batch (the report matches bench=train_step records by it)
    input_size: Optional[int] = None            # training crop side in pixels (idem)


class ThroughputMeter(Callback):
    """Times every training step and the wait for its batch; ``figures()`` is the record's ``TrainThroughput``."""

    def __init__(self) -> None:
        self.images = 0
        self.step_s = self.wait_s = 0.0
        self.steps = 0
        self._end: float | None = None  # when the previous step of this epoch ended
        self._start = 0.0
        self.shape: dict[str, int | None] = {"batch_size": None, "input_size": None}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        self.shape = {"batch_size": getattr(datamodule, "batch_size", None), "input_size": getattr(datamodule, "size", None)}

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._end = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.perf_counter()
        if self._end is not None:
            self.step_s += now - self._end
            self.wait_s += self._start - self._end
            self.images += len(batch[1]) * trainer.world_size
            self.steps += 1
        self._end = now

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._end = None  # validation inside an epoch (val_check_interval) is not a wait for training data

    def figures(self) -> dict[str, Any]:
        if not self.steps:
            return asdict(TrainThroughput(timed_steps=0, **self.shape))
        share = self.wait_s / self.step_s
        return asdict(TrainThroughput(train_images_per_s=self.images / self.step_s, loader_wait_share=share,
                                      loader_wait_s=self.wait_s, timed_steps=self.steps,
                                      data_bound=share > 1 - DATA_BOUND_RATIO, **self.shape))

    def verdict(self) -> str:
        """One line, as loader mode prints: which side limits the training run."""
        f = self.figures()
        if not f["timed_steps"]:
            return "Training throughput: no step after the first of an epoch to time"
        side = ("Data-bound: the input pipeline limits this run" if f["data_bound"]
                else "Compute-bound: the model limits this run")
        return (f"{side}: {f['train_images_per_s']:.1f} img/s over {f['timed_steps']} steps, "
                f"{100 * f['loader_wait_share']:.1f}% of each step waiting for data")
