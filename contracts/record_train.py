"""The record's areas of a training or eval job, and of a Rethinking Table 3 ablation row."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from contracts.record_fields import view


@dataclass
class Training:
    """task=train / task=eval (``bench.training.task``)."""

    top1: Optional[float] = None               # validation top-1 (%)
    top5: Optional[float] = None               # validation top-5 (%): only with >= 5 classes (contracts.metrics)
    top1_err: Optional[float] = None
    top5_err: Optional[float] = None
    top_k: Optional[int] = None                # the k of the top-k measured: 5, or the class count below 5
    top2: Optional[float] = None               # the top-k of a 2-, 3- or 4-class set, named for its k
    top3: Optional[float] = None
    top4: Optional[float] = None
    top2_err: Optional[float] = None
    top3_err: Optional[float] = None
    top4_err: Optional[float] = None
    loss: Optional[float] = None               # validation loss
    num_classes: Optional[int] = view()
    eval_mode: Optional[str] = view()         # the crop protocol: center | 10crop | 144crop ...
    epochs: Optional[int] = None
    global_step: Optional[int] = None
    best_epoch: Optional[int] = None           # the epoch of the best checkpoint
    checkpoint: Optional[str] = None           # the best (or, stopped, the last) checkpoint
    resumed_from: Optional[str] = None         # the checkpoint the run resumed from
    train_time_s: Optional[float] = None       # the training clock, all segments (eval and init excluded; CLOCK_RULES)
    skipped_images: Optional[int] = None       # unreadable images skipped
    curves: Optional[dict[str, list[Optional[float]]]] = None  # per-epoch series (epoch, lr, losses, accuracies)
    eval_time_s: Optional[float] = None        # validation seconds: during fit, all segments; task=eval: validate
    val_images: Optional[int] = None           # images evaluated (task=eval)


@dataclass
class Ablation:
    """A Rethinking Table 3 row's identity and the paper's figures for it (``conf/ablation``)."""

    row: Optional[str] = None
    network: Optional[str] = None
    paper_top1_err: Optional[float] = None
    paper_top5_err: Optional[float] = None
    paper_bn_ops: Optional[float] = None       # the table's "Cost Bn Ops"
    paper_source: Optional[str] = None


@dataclass
class TimeToAccuracy:
    """A training run's time to accuracy (``bench.training.time_to_accuracy``; MLPerf Training's measure).

    Energy to train is ``Energy.energy_j``; training and evaluation seconds are ``Training``'s.
    """

    target_top1: Optional[float] = None        # the target val top-1 (%), train.target_top1; None: no target set
    reached: Optional[bool] = None             # the target was reached (False: a miss, recorded, never dropped)
    time_to_target_s: Optional[float] = None   # training-clock seconds to the first eval at target (eval excluded)
    epochs_to_target: Optional[float] = None   # epochs trained by then (fractional with mid-epoch validation)
    samples_to_target: Optional[int] = None    # training samples seen by then, all processes
    evals_to_target: Optional[int] = None      # validations run up to and including that one
    init_time_s: Optional[float] = None        # this segment's init: job start to the first training step
    segments: Optional[int] = None             # fit runs the history spans (1 + resumes)
    train_images_per_s: Optional[float] = None  # training images / training clock
    seed: Optional[int] = None                 # the run's seed (MLPerf logs it; the report groups seeds)
    recipe: Optional[str] = None               # train.recipe: what the report groups by with model and device
    reference_epochs: Optional[float] = None   # train.reference_epochs: the recipe's reference epochs to target
    event_log: Optional[str] = None            # the job's :::MLLOG event log
    clock: Optional[dict[str, Any]] = None     # CLOCK_RULES: what the seconds hold


@dataclass
class TrainThroughput:
    """A training run's steady throughput as the loader benchmark measures it (``lightning_modules.throughput``);
    its verdict is ``Loader.data_bound``, its step shape ``BenchSetup.batch_size`` / ``input_size``."""

    steady_images_per_s: Optional[float] = None  # images / time of the counted steps (each epoch's first step left out)
    loader_wait_share: Optional[float] = None    # time the steps waited for data / their time, 0..1
    loader_wait_s: Optional[float] = None        # that waiting time, summed over the counted steps
    timed_steps: Optional[int] = None            # steps counted
