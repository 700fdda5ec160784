"""Test-only callbacks the time-to-accuracy tests add to real training jobs through the callbacks group
(``+callbacks.<name>={_target_: tests.tta_callbacks...}``): a fake clock for the training clock, a score
that rises by epoch, and a stop signal delivered at a validation's start."""
from __future__ import annotations

import os
import signal

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

SCORE = "val/score"  # what TimeToTarget watches in these tests: 0.1, 0.2, 0.3... at epochs 0, 1, 2...


class FakeClock(Callback):
    """A clock that moves only when the run works: +1 s per training batch, +100 s per validation batch."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        self.now += 1.0

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: object, **kwargs: object) -> None:
        self.now += 100.0

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit":
            pl_module.log(SCORE, 0.1 * (trainer.current_epoch + 1))


CLOCK = FakeClock()


def fake_clock() -> FakeClock:
    """The one clock of a test job: the training clock reads it and the run advances it."""
    return CLOCK


class SigtermAtValidation(Callback):
    """Sends this process SIGTERM as fit's validation of ``epoch`` starts."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit" and trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)
