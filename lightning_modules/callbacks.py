"""Training callbacks: per-epoch curves, the best checkpoint and its epoch, and a clean stop on a stop signal."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from contracts.record import F

CURVE_KEYS = {"train_loss": "train/loss_epoch", "train_top1": "train/top1", "val_loss": "val/loss",
              "val_top1": "val/top1", "val_top5": "val/top5", F.images_per_s: "train/images_per_s"}


def _scalar(value: Any) -> float | None:
    return None if value is None else float(value)


class EpochRecorder(Callback):
    """Per-epoch curves (kept in checkpoints, so a resumed run keeps its history) and train throughput."""

    def __init__(self) -> None:
        self.curves: dict[str, list[Any]] = {"epoch": [], "lr": [], **{k: [] for k in CURVE_KEYS}}
        self.images = 0
        self.seconds = 0.0
        self._t0 = self._n = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0, self._n = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._n += len(batch[1]) * trainer.world_size

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self._t0
        self.images, self.seconds = self.images + self._n, self.seconds + seconds
        pl_module.log("train/images_per_s", self._n / max(seconds, 1e-9), sync_dist=False)
        metrics = trainer.callback_metrics
        self.curves["epoch"].append(trainer.current_epoch)
        self.curves["lr"].append(trainer.optimizers[0].param_groups[0]["lr"])
        for key, name in CURVE_KEYS.items():  # accuracies in %, as in the record
            value = _scalar(metrics.get(name))
            self.curves[key].append(100 * value if value is not None and "top" in key else value)

    def state_dict(self) -> dict[str, Any]:
        return {F.curves: self.curves, "images": self.images, "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curves, self.images, self.seconds = state_dict[F.curves], state_dict["images"], state_dict["seconds"]


class BestCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` of the best epoch that also keeps *which* epoch that is (``best_epoch``, saved in its state).

    The best checkpoint is written inside ``on_train_epoch_end``, so its own copy of this state is taken while
    it is being saved: ``_sync`` runs there too, so the file says its own epoch.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.best_epoch: int | None = None
        self._best_path = ""
        self._epoch: int | None = None  # the epoch whose end is being handled

    def _sync(self) -> None:
        if self.best_model_path and self.best_model_path != self._best_path:
            self._best_path, self.best_epoch = self.best_model_path, self._epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch = trainer.current_epoch
        super().on_train_epoch_end(trainer, pl_module)
        self._sync()

    def state_dict(self) -> dict[str, Any]:
        self._sync()
        return {**super().state_dict(), F.best_epoch: self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_epoch, self._best_path = state_dict.get(F.best_epoch), self.best_model_path


class StopRequests(Protocol):
    """What ``StopAtStepEnd`` needs of the job's stop guard (``bench.job.signals.StopGuard``)."""

    pending: BaseException | None

    def defer(self) -> None: ...

    def undefer(self) -> None: ...

    def stop_now(self) -> None: ...


class StopAtStepEnd(Callback):
    """On a stop signal during fit: finish the current step, save ``checkpoint`` (``ckpt_path=last`` resumes it), stop.

    The guard holds the signal back while training runs; a stop that arrives during the epoch's validation
    ends it at the next validation batch, without a new checkpoint (the loop state there is not one to
    resume from): the last one saved stays the one to resume.
    """

    def __init__(self, guard: StopRequests, checkpoint: Path) -> None:
        self.guard, self.checkpoint = guard, Path(checkpoint)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.guard.defer()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.guard.pending is not None:
            trainer.save_checkpoint(self.checkpoint, weights_only=False)  # the full state: optimizer, loops, callbacks
            self.guard.stop_now()

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any) -> None:
        if self.guard.pending is not None and trainer.state.fn == "fit":
            self.guard.stop_now()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.guard.stop_now()  # a signal after the last step: training is done, the rest of the job is not run

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.guard.undefer()
        # Lightning's own SIGTERM stop, raised at a training step's end before this callback saw the signal:
        # the state there is a step's end too
        if isinstance(exception, SIGTERMException) and trainer.training:
            trainer.save_checkpoint(self.checkpoint, weights_only=False)
