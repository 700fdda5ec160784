"""Test-only callbacks the time-to-accuracy tests add to real training jobs through the callbacks group
(``+callbacks.<name>={_target_: tests.tta_callbacks...}``): a fake clock for the training clock, a score
that rises by epoch, a stop signal delivered at a validation's start, and a stand-in energy counter
(``+callbacks.energy.counter=...``) that runs at a constant power on the fake clock."""
from __future__ import annotations

import os
import signal

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from bench.job.energy import Counter

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


def standin_counter(watts: list[float], per_node: bool = False, fail_at_read: int | None = None) -> Counter:
    """An energy counter drawing ``watts[local rank]`` on the fake clock: its joules over any stretch are that power
    times the fake seconds in it (a DDP rank finds its rank when it reads). Read ``fail_at_read`` (1 = the first)
    raises, as a vanished sysfs file or a lost GPU would."""
    reads = [0]

    def read() -> list[float]:
        reads[0] += 1
        if reads[0] == fail_at_read:
            raise OSError("stand-in counter: read failed")
        return [watts[int(os.environ.get("LOCAL_RANK", 0))] * CLOCK.now]

    return Counter("standin", read, [None], per_node=per_node)
