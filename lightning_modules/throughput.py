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
from dataclasses import asdict
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from contracts.record import F, Loader, TrainThroughput

DATA_BOUND_RATIO = 0.9  # throughput below this fraction of the model alone: the input pipeline limits the run


def batch_step_words(figures: dict[str, Any]) -> str:
    """``numba in the workers, region decoder`` / ``torch on cuda``: a record's ``BatchStep`` in a printed line."""
    on, decoder = figures[F.batch_step_on], figures.get(F.jpeg_decoder)
    return (f"{figures[F.batch_step_kernel]} {'in the workers' if on == 'workers' else f'on {on}'}"
            + (f", {decoder} decoder" if decoder else ""))


class ThroughputMeter(Callback):
    """Times every training step and the wait for its batch; ``figures()`` is the record's ``TrainThroughput``."""

    def __init__(self) -> None:
        self.images = 0
        self.step_s = self.wait_s = 0.0
        self.steps = 0
        self._end: float | None = None  # when the previous step of this epoch ended
        self._start = 0.0
        self.shape: dict[str, Any] = {F.batch_size: None, F.input_size: None}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        self.shape = {F.batch_size: getattr(datamodule, "batch_size", None), F.input_size: getattr(datamodule, "size", None),
                      **(datamodule.batch_step() if hasattr(datamodule, "batch_step") else {})}

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
        """The record's ``TrainThroughput`` part, with ``data_bound`` (``Loader``'s verdict) and the step's shape."""
        if not self.steps:
            return {**asdict(TrainThroughput(timed_steps=0)), **self.shape}
        share = self.wait_s / self.step_s
        return {**asdict(TrainThroughput(steady_images_per_s=self.images / self.step_s, loader_wait_share=share,
                                         loader_wait_s=self.wait_s, timed_steps=self.steps)),
                F.data_bound: Loader(data_bound=share > 1 - DATA_BOUND_RATIO).data_bound, **self.shape}

    def verdict(self) -> str:
        """One line, as loader mode prints: which side limits the training run."""
        f = self.figures()
        if not f[F.timed_steps]:
            return "Training throughput: no step after the first of an epoch to time"
        side = ("Data-bound: the input pipeline limits this run" if f[F.data_bound]
                else "Compute-bound: the model limits this run")
        step = f"; batch step: {batch_step_words(f)}" if f.get(F.batch_step_kernel) else ""
        return (f"{side}: {f[F.steady_images_per_s]:.1f} img/s over {f[F.timed_steps]} steps, "
                f"{100 * f[F.loader_wait_share]:.1f}% of each step waiting for data{step}")
