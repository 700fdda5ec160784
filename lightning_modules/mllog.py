"""A training job's event log in MLPerf's format: one ``:::MLLOG {json}`` line per event, written by rank 0.

The line is what mlcommons/logging's ``mllog`` writes — the prefix, then a JSON object with ``namespace``,
``time_ms`` (wall clock, ms since the epoch), ``event_type`` (``INTERVAL_START`` / ``INTERVAL_END`` /
``POINT_IN_TIME``), ``key``, ``value`` and ``metadata`` — with their key names (``init_start``, ``run_start``,
``epoch_start``, ``eval_accuracy``, ``run_stop`` with its ``status``, ``seed``, ``global_batch_size``,
``train_samples`` ...), so a reader can check a run with their conventions (accuracy as a fraction, epochs
numbered from 1). Keys MLPerf has no name for are this project's (``target_accuracy``, ``segment``).
A resumed run appends to the same file: each segment starts with its own ``init_start`` (metadata
``segment``), and an interrupted segment ends with ``run_stop`` ``aborted``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from contracts.metrics import VAL_TOP1

PREFIX = ":::MLLOG"
INTERVAL_START, INTERVAL_END, POINT_IN_TIME = "INTERVAL_START", "INTERVAL_END", "POINT_IN_TIME"
SUCCESS, ABORTED = "success", "aborted"  # run_stop's status values (mllog.constants)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every ``:::MLLOG`` line of ``path`` as its JSON object (other lines are skipped, as MLPerf's checker does)."""
    return [json.loads(line[len(PREFIX):]) for line in Path(path).read_text().splitlines() if line.startswith(PREFIX)]


class EventLog:
    """Appends events to one file, each line flushed at once (a killed job keeps every event before it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def event(self, key: str, value: Any = None, event_type: str = POINT_IN_TIME, time_s: float | None = None,
              **metadata: Any) -> None:
        line = {"namespace": "", "time_ms": round(1000 * (time.time() if time_s is None else time_s)),
                "event_type": event_type, "key": key, "value": value, "metadata": metadata}
        with self.path.open("a") as sink:
            sink.write(f"{PREFIX} {json.dumps(line)}\n")


class MLLogCallback(Callback):
    """The fit's events in an ``EventLog`` at ``path`` (global rank 0 only).

    Args:
        path: the log file (the training task gives ``<job dir>/mllog.txt``).
        started_s: when the job's init began (``time.time()``; the task's start): ``init_start``'s time.
        benchmark: ``submission_benchmark`` (the model's name).
        seed: the run's seed.
        target_top1: the target top-1 (%) or None: ``target_accuracy``, and run_stop's ``success`` means reached.
    """

    def __init__(self, path: str | Path, started_s: float, benchmark: str, seed: int,
                 target_top1: float | None = None) -> None:
        self.path, self.started_s, self.benchmark, self.seed = Path(path), float(started_s), benchmark, int(seed)
        self.target = target_top1
        self.events: EventLog | None = None
        self.segment = 0
        self.best = 0.0   # the best validation top-1 (fraction) so far
        self.stopped = False

    def _epoch_num(self, trainer: pl.Trainer) -> int:
        return trainer.current_epoch + 1  # MLPerf numbers epochs from 1

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero:
            self.events, self.stopped = EventLog(self.path), False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.events is None:
            return
        # written now that a resumed run's state is restored (its segment number), dated when init began
        self.segment += 1
        self.events.event("init_start", event_type=INTERVAL_START, time_s=self.started_s, segment=self.segment)
        data = trainer.datamodule
        optimizer = trainer.optimizers[0]
        group = optimizer.param_groups[0]
        for key, value in (
            ("submission_benchmark", self.benchmark), ("seed", self.seed),
            ("global_batch_size", data.batch_size * trainer.world_size * trainer.accumulate_grad_batches),
            ("gradient_accumulation_steps", trainer.accumulate_grad_batches),
            ("train_samples", len(data.train_set)), ("eval_samples", len(data.val_set)),
            ("opt_name", type(optimizer).__name__.lower()),
            ("opt_base_learning_rate", group.get("initial_lr", group["lr"])),  # after the linear scaling rule
            ("target_accuracy", None if self.target is None else self.target / 100),
        ):
            self.events.event(key, value)
        self.events.event("init_stop", event_type=INTERVAL_END, segment=self.segment)
        self.events.event("run_start", event_type=INTERVAL_START, segment=self.segment)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.events is not None:
            self.events.event("epoch_start", event_type=INTERVAL_START, epoch_num=self._epoch_num(trainer))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.events is not None and batch_idx + 1 == trainer.num_training_batches:  # before the epoch's validation
            self.events.event("epoch_stop", event_type=INTERVAL_END, epoch_num=self._epoch_num(trainer))

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.events is not None and trainer.state.fn == "fit" and not trainer.sanity_checking:
            self.events.event("eval_start", event_type=INTERVAL_START, epoch_num=self._epoch_num(trainer))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.events is None or trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        epoch = self._epoch_num(trainer)
        self.events.event("eval_stop", event_type=INTERVAL_END, epoch_num=epoch)
        top1 = trainer.callback_metrics.get(VAL_TOP1)
        if top1 is not None:
            self.best = max(self.best, float(top1))
            self.events.event("eval_accuracy", float(top1), epoch_num=epoch)

    def _run_stop(self, status: str, **metadata: Any) -> None:
        if self.events is not None and not self.stopped:
            self.stopped = True
            self.events.event("run_stop", event_type=INTERVAL_END, status=status, **metadata)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.target is None:
            self._run_stop(SUCCESS, reason="training finished (no target set)")
        elif 100 * self.best >= self.target:
            self._run_stop(SUCCESS, reason="target reached")
        else:
            self._run_stop(ABORTED, reason=f"target missed: best {100 * self.best:.4g} % < {self.target:g} %")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._run_stop(ABORTED, reason=f"{type(exception).__name__}: {exception}"[:200])

    def state_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.segment, self.best = state_dict.get("segment", 0), state_dict.get("best", 0.0)
