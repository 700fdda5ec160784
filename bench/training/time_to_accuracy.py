"""Time to accuracy (MLPerf Training's measure, AlgoPerf's clock rules) as record fields, and the check of
``train`` that needs the trainer too (the ranges are the schema's, ``TrainConfig``).

One run is one seed: ``experiment=time_to_accuracy`` sweeps ``seed`` over ``train.seeds`` values
(``contracts.config.seed_range``), so any Hydra
launcher (basic, joblib, SLURM) runs them. The clock is the training clock of
``lightning_modules.callbacks.EpochRecorder``, carried across resumes; its rules are stated in every record
(``clock``), so a reader knows what the seconds hold. Energy to train is read over the same windows
(bench/training/energy.py, its rule ``clock.energy``).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from omegaconf import DictConfig

from bench.training.energy import ENERGY_RULE
from contracts.errors import ConfigError
from contracts.record import F, TimeToAccuracy, Training
from lightning_modules.callbacks import EpochRecorder, TimeToTarget

CLOCK_RULES = {
    "starts": "at fit's on_train_start, after init (model build, data setup, process launch: init_time_s)",
    "includes": ["data loading and augmentation", "forward, backward and optimizer steps",
                 "first-step warm-up (and compilation, if any)", "checkpoint writes"],
    "excludes": ["init (init_time_s)", "validation (eval_time_s, its own figure)",
                 "the final validation of the best checkpoint"],
    "resumed": "summed over segments: each checkpoint carries the training and evaluation seconds so far",
    "target": "time_to_target_s: training seconds at the end of the first validation whose top-1 >= target_top1",
    "energy": ENERGY_RULE,
}


def check_train_options(cfg: DictConfig) -> None:
    """What the ``train`` schema (``contracts.config_sections.TrainConfig``) cannot check alone: a target needs
    validation, which the trainer may turn off."""
    target = cfg.train.target_top1
    if target is not None and cfg.trainer.get("limit_val_batches") == 0:
        raise ConfigError(f"train.target_top1={target:g} needs a validation set to measure it on, but "
                          "trainer.limit_val_batches=0 turns validation off")


def train_identity(cfg: DictConfig) -> dict[str, Any]:
    """What groups a run with its seeds in the report, known before it trains: target, seed, recipe, reference."""
    train = cfg.train
    return {F.target_top1: train.target_top1, F.seed: int(cfg.seed), F.recipe: train.recipe,
            F.reference_epochs: train.reference_epochs}


def time_to_accuracy(cfg: DictConfig, recorder: EpochRecorder, target: TimeToTarget | None,
                     init_time_s: float | None, event_log: str | None, energy: dict[str, Any]) -> dict[str, Any]:
    """The record's time-to-accuracy fields from the clock, the target callback (no target: timing fields only)
    and the energy over the clock's windows (``Energy``'s fields, ``EnergyToTrain.figures``)."""
    reached = target.reached if target is not None else None
    part = TimeToAccuracy(
        **train_identity(cfg),
        reached=None if target is None else reached is not None,
        time_to_target_s=reached and reached["time_s"], epochs_to_target=reached and reached["epochs"],
        samples_to_target=reached and reached["samples"], evals_to_target=reached and reached["eval"],
        init_time_s=init_time_s, segments=recorder.segments,
        train_images_per_s=recorder.images / recorder.elapsed() if recorder.elapsed() > 0 else None,
        event_log=event_log, clock=CLOCK_RULES,
    )
    clocks = Training(train_time_s=recorder.elapsed(), eval_time_s=recorder.eval_elapsed())
    return {**asdict(part), F.train_time_s: clocks.train_time_s, F.eval_time_s: clocks.eval_time_s, **energy}
