"""The record's areas of a training or eval job, and of a Rethinking Table 3 ablation row."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from contracts.record_fields import view


@dataclass
class Training:
    """task=train / task=eval (``bench.training.task``)."""

    top1: Optional[float] = None               # validation top-1 (%)
    top5: Optional[float] = None               # validation top-5 (%)
    top1_err: Optional[float] = None
    top5_err: Optional[float] = None
    loss: Optional[float] = None               # validation loss
    num_classes: Optional[int] = view()
    eval_mode: Optional[str] = view()         # the crop protocol: center | 10crop | 144crop ...
    epochs: Optional[int] = None
    global_step: Optional[int] = None
    best_epoch: Optional[int] = None           # the epoch of the best checkpoint
    checkpoint: Optional[str] = None           # the best (or, stopped, the last) checkpoint
    resumed_from: Optional[str] = None         # the checkpoint the run resumed from
    train_time_s: Optional[float] = None       # wall seconds of fit
    skipped_images: Optional[int] = None       # unreadable images skipped
    curves: Optional[dict[str, list[Optional[float]]]] = None  # per-epoch series (epoch, lr, losses, accuracies)
    eval_time_s: Optional[float] = None        # wall seconds of validate (task=eval)
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
