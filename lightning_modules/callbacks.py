"""Training callbacks: per-epoch curves and the training clock, time to a target top-1, the best checkpoint and
its epoch, and a clean stop (with a checkpoint) on a stop signal.

Each is built from the ``callbacks`` config group (``conf/callbacks/``); what only the job knows (its checkpoint
dir, its stop guard) the training task fills in.
"""
from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from contracts.errors import ConfigError
from contracts.record import F
from contracts.metrics import (TOP_K, TRAIN_IMAGES_PER_S, TRAIN_LOSS_EPOCH, TRAIN_TOP1, VAL_LOSS, VAL_TOP1,
                               VAL_TOP1_CURVE, accuracy_metric)

# curve name -> logged metric; the top-k curve is named for the k measured (val_top5, or val_top3 on 3 classes)
CURVE_KEYS = {"train_loss": TRAIN_LOSS_EPOCH, "train_top1": TRAIN_TOP1, "val_loss": VAL_LOSS,
              VAL_TOP1_CURVE: VAL_TOP1, F.images_per_s: TRAIN_IMAGES_PER_S}


def _scalar(value: Any) -> float | None:
    return None if value is None else float(value)


def _in_fit_validation(trainer: pl.Trainer) -> bool:
    """A validation run inside fit (not the sanity check, not ``trainer.validate``)."""
    return trainer.state.fn == "fit" and not trainer.sanity_checking


class ClockWindow(Protocol):
    """Something measured over exactly the training clock's windows (``EpochRecorder.add_window``): opened each
    time the clock starts, closed each time it stops (an energy meter: bench/training/energy.py)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class EpochRecorder(Callback):
    """Per-epoch curves and the training clock, both kept in checkpoints: a run resumed from any of its checkpoints
    carries its training time, evaluation time, images seen and curves across segments.

    The clock (``train_s``) runs while fit trains: from ``on_train_start`` (model, data and processes are set up:
    that is ``init``, outside it) to ``on_train_end``, data loading, the first steps' warm-up or compilation and
    checkpoint writes inside it; it stops while fit validates, which is timed on its own (``eval_s``, AlgoPerf's
    rule). Each curve point carries the training time at its epoch's end (``time_s``). Windows added with
    ``add_window`` open and close with the clock, so what they measure covers what its seconds cover.
    """

    def __init__(self, top_k: int = TOP_K, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock       # seconds, monotonic (a seam: tests drive a fake one)
        self.top_k_curve = f"val_top{top_k}"  # the task passes the k measured (contracts.metrics.top_k_for)
        self._metric_of = {**CURVE_KEYS, self.top_k_curve: accuracy_metric("val", top_k)}
        self.curves: dict[str, list[Any]] = {"epoch": [], "lr": [], "time_s": [], **{k: [] for k in self._metric_of}}
        self.images = 0          # training images seen, all processes, all segments
        self.train_s = 0.0       # the clock's seconds before it last started
        self.eval_s = 0.0
        self.segments = 0        # fit runs this history spans (1 + resumes)
        self.segment_started: float | None = None  # this segment's on_train_start, wall clock (time.time())
        self._since: float | None = None       # when the clock last started; None: stopped
        self._eval_since: float | None = None
        self._epoch_mark = (0, 0.0)            # (images, training seconds) at the epoch's start
        self.windows: list[ClockWindow] = []   # opened and closed with the clock

    # ------------------------------------------------------------------------------ the clock
    def elapsed(self) -> float:
        """Training seconds so far, all segments, validation excluded."""
        return self.train_s + (self.clock() - self._since if self._since is not None else 0.0)

    def eval_elapsed(self) -> float:
        return self.eval_s + (self.clock() - self._eval_since if self._eval_since is not None else 0.0)

    def add_window(self, window: ClockWindow) -> None:
        """Measure ``window`` over the clock's windows from its next start on (added once, however often asked)."""
        if window not in self.windows:
            self.windows.append(window)

    def _start(self) -> None:
        if self._since is None:
            for window in self.windows:
                window.start()
            self._since = self.clock()

    def _stop(self) -> None:
        running = self._since is not None
        self.train_s, self._since = self.elapsed(), None
        if running:
            for window in self.windows:
                window.stop()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.segments += 1
        self.segment_started = time.time()
        self._start()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if _in_fit_validation(trainer):
            self._stop()
            self._eval_since = self.clock()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if _in_fit_validation(trainer) and self._eval_since is not None:
            self.eval_s, self._eval_since = self.eval_elapsed(), None
            self._start()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._stop()

    # ------------------------------------------------------------------------------ the curves
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_mark = (self.images, self.elapsed())

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.images += len(batch[1]) * trainer.world_size

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        now = self.elapsed()
        images, since = self.images - self._epoch_mark[0], now - self._epoch_mark[1]
        pl_module.log(TRAIN_IMAGES_PER_S, images / max(since, 1e-9), sync_dist=False)
        metrics = trainer.callback_metrics
        self.curves["epoch"].append(trainer.current_epoch)
        self.curves["lr"].append(trainer.optimizers[0].param_groups[0]["lr"])
        self.curves["time_s"].append(now)
        for key, name in self._metric_of.items():  # accuracies in %, as in the record
            value = _scalar(metrics.get(name))
            self.curves[key].append(100 * value if value is not None and "top" in key else value)

    def state_dict(self) -> dict[str, Any]:
        # taken whenever a checkpoint is written, mid-epoch or mid-validation too: the clocks as they stand then
        return {F.curves: self.curves, "images": self.images, "train_s": self.elapsed(), "eval_s": self.eval_elapsed(),
                F.segments: self.segments}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curves, self.images = state_dict[F.curves], state_dict["images"]
        self.curves.setdefault("time_s", [None] * len(self.curves["epoch"]))  # checkpoints before the clock
        self.train_s = state_dict.get("train_s", state_dict.get("seconds", 0.0))
        self.eval_s, self.segments = state_dict.get("eval_s", 0.0), state_dict.get(F.segments, 1)


def recorder_of(trainer: pl.Trainer) -> EpochRecorder:
    """The run's ``EpochRecorder``: the one clock every timed figure reads."""
    found = [c for c in trainer.callbacks if isinstance(c, EpochRecorder)]
    if not found:
        raise ConfigError("callbacks.time_to_target needs callbacks.epoch_recorder (the training clock); "
                          "keep it in the callbacks group")
    return found[0]


class TimeToTarget(Callback):
    """MLPerf Training's measure: training time until the first validation whose top-1 reaches ``target_top1`` (%).

    Read off ``EpochRecorder``'s clock (validation excluded) at the end of that validation, with the epochs
    and training samples it took; with ``stop`` the run ends there. Kept in checkpoints: a resumed run that
    had reached the target keeps its time, and one that had not goes on looking.
    """

    def __init__(self, target_top1: float, stop: bool = True, monitor: str = VAL_TOP1) -> None:
        self.target, self.stop, self.monitor = float(target_top1), stop, monitor
        self.reached: dict[str, Any] | None = None   # time_s, epochs, samples, top1 of the first eval at target
        self.evals = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        recorder_of(trainer)
        val_set = getattr(trainer.datamodule, "val_set", None)
        if not trainer.limit_val_batches or (val_set is not None and len(val_set) == 0):
            size = len(val_set) if val_set is not None else "unknown"
            raise ConfigError(f"train.target_top1={self.target:g} needs a validation set to measure it on, but there is "
                              f"none (validation images: {size}, trainer.limit_val_batches={trainer.limit_val_batches}); "
                              "give the data a validation split or set train.target_top1=null")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not _in_fit_validation(trainer):
            return
        self.evals += 1
        value = _scalar(trainer.callback_metrics.get(self.monitor))
        if value is None:
            raise ConfigError(f"train.target_top1 is set but validation logged no {self.monitor} "
                              "(every validation image unreadable?)")
        if self.reached is None and 100 * value >= self.target:
            done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
            epochs = trainer.current_epoch + done / max(1, trainer.num_training_batches)
            self.reached = {"time_s": recorder_of(trainer).elapsed(), "epochs": epochs,
                            "samples": recorder_of(trainer).images, "top1": 100 * value, "eval": self.evals}
        if self.stop and trainer.strategy.reduce_boolean_decision(self.reached is not None, all=False):
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {F.reached: self.reached, "evals": self.evals}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.reached, self.evals = state_dict.get(F.reached), state_dict.get("evals", 0)


class BestCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` of the best epoch that also keeps *which* epoch that is (``best_epoch``, saved in its state).

    The best checkpoint is written inside ``on_train_epoch_end``, so its own copy of this state is taken while
    it is being saved: ``_sync`` runs there too, so the file says its own epoch.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("monitor", VAL_TOP1)
        kwargs.setdefault("mode", "max")
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

    The guard holds the signal back while training runs; a stop that arrives during fit's validation ends it
    at the next validation batch's end, after saving ``checkpoint`` there: it holds the last finished training
    step (validation changes no weights), and resuming it goes on with the next epoch (Lightning does not
    re-run the interrupted validation, so that epoch's curve point is missing).
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
            trainer.save_checkpoint(self.checkpoint, weights_only=False)
            self.guard.stop_now()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.guard.stop_now()  # a signal after the last step: training is done, the rest of the job is not run

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.guard.undefer()
        # Lightning's own SIGTERM stop, raised at a training step's end before this callback saw the signal:
        # the state there is a step's end too
        if isinstance(exception, SIGTERMException) and trainer.training:
            trainer.save_checkpoint(self.checkpoint, weights_only=False)
