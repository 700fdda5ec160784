"""Lightning's overhead, measured: the same training steps through the project's Lightning path and a bare loop.

Both train the same net on the same DataModule's batches with the same optimizer and scheduler (the ones
``ClassifierModule.configure_optimizers`` made for the Lightning run) and the same loss (``ClassifierModule.loss``),
in one process, in rounds whose order alternates so that drift in machine load hits both alike. The Lightning
path is ``bench.training``'s: ``build_module`` and the configured Trainer. Each run times the steps after
``--warmup`` from the start of the first timed step to the end of the last (data loading between them included).
The figure is bare-loop time / Lightning time (1.0: no overhead; the goal on CPU is >= 0.95):

    python -m tools.lightning_overhead --steps 30 --rounds 4 model=googlenet data=digits data.batch_size=32

Trailing arguments are Hydra overrides of the project's config (defaults in ``DEFAULTS``: CPU, data=digits, no logger).
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

import contracts.config  # noqa: F401  (registers the config schemas before any composition)
from bench.training.task import build_module

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
# the progress bar off: terminal rendering is not the training loop (trainer.enable_progress_bar=true puts it back)
DEFAULTS = ["task=train", "trainer=cpu", "trainer.enable_progress_bar=false", "data=digits", "logger=none"]


@dataclass
class Round:
    lightning_s: float  # seconds per timed step
    bare_s: float
    lightning_steps: int  # optimizer steps the Trainer made (warm-up included)

    @property
    def ratio(self) -> float:
        return self.bare_s / self.lightning_s


class StepClock(Callback):
    """Wall clock from the start of step ``warmup`` (counted from 0, across epochs) to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.start, self.end = warmup, 0, 0.0, 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self.started += 1
        if self.started == self.warmup + 1:
            _sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        _sync(pl_module.device)
        self.end = time.perf_counter()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _endless(loader: Any) -> Iterator[Any]:
    while True:
        yield from loader


def lightning_run(cfg: DictConfig, module: pl.LightningModule, datamodule: pl.LightningDataModule, steps: int,
                  warmup: int) -> tuple[float, pl.Trainer]:
    clock = StepClock(warmup)
    with tempfile.TemporaryDirectory() as root:
        trainer = instantiate(cfg.trainer, callbacks=[clock], logger=False, default_root_dir=root, max_epochs=-1,
                              max_steps=warmup + steps, limit_val_batches=0, enable_checkpointing=False)
        trainer.fit(module, datamodule=datamodule)
    return (clock.end - clock.start) / steps, trainer


def bare_run(trainer: pl.Trainer, module: Any, datamodule: pl.LightningDataModule, steps: int, warmup: int) -> float:
    """The plainest loop doing what a Lightning training step does: forward, loss, backward, step, schedule."""
    net, device = module.net.train(), module.device
    optimizer, scheduler = trainer.optimizers[0], trainer.lr_scheduler_configs[0].scheduler
    batches = _endless(datamodule.train_dataloader())
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        x, y, _ = datamodule.prepare_batch(next(batches), device, train=True)  # uint8 -> augmented float on the device
        optimizer.zero_grad(set_to_none=True)
        _, loss = module.loss(net(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def measure(cfg: DictConfig, steps: int, warmup: int, rounds: int) -> list[Round]:
    """``rounds`` pairs of runs, Lightning first in odd rounds (the first makes the optimizer), the bare loop in even."""
    torch.manual_seed(cfg.seed)
    module, datamodule = build_module(cfg)
    results = []
    for r in range(rounds):
        for kind in ("lightning", "bare") if r % 2 == 0 else ("bare", "lightning"):
            if kind == "lightning":
                seconds, trainer = lightning_run(cfg, module, datamodule, steps, warmup)
            else:
                bare = bare_run(trainer, module, datamodule, steps, warmup)
        results.append(Round(seconds, bare, trainer.global_step))
        print(f"round {r + 1}: Lightning {seconds * 1e3:.2f} ms/step, bare loop {bare * 1e3:.2f} ms/step, "
              f"ratio {results[-1].ratio:.3f}")
    return results


def main(argv: list[str] | None = None) -> list[Round]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before them")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=googlenet data.batch_size=32")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner per Trainer
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[*DEFAULTS, *args.overrides])
    results = measure(cfg, args.steps, args.warmup, args.rounds)
    ratio = statistics.median(r.ratio for r in results)
    print(f"Lightning overhead ({cfg.model.name}, data={cfg.data.name}, batch {cfg.data.batch_size}, "
          f"{args.steps} steps x {args.rounds} rounds): bare loop / Lightning = {ratio:.3f} "
          f"(median; 1.0 = no overhead, goal >= 0.95)")
    return results


if __name__ == "__main__":
    main()
