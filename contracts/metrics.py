"""The training metrics' names: what the classifier logs, what callbacks monitor, and what the record calls them.

One module spells them, so the classifier, the callbacks, the training task and the report cannot drift
apart. The top-k accuracy is measured at ``k = top_k_for(num_classes)``: top-5 where there are at least 5
classes, else the largest k that means anything (top-3 on a 3-class set), and every name says that k — a
3-class run records ``top_k: 3`` and ``top3``, never a ``top5`` that is really top-3.
"""
from __future__ import annotations

from contracts.record import F

TOP_K = 5  # the papers' second accuracy: top-5 (ILSVRC's classification measure)

# what ClassifierModule logs (Lightning's callback_metrics keys)
TRAIN_LOSS = "train/loss"              # per step and per epoch (Lightning adds _step / _epoch)
TRAIN_LOSS_EPOCH = "train/loss_epoch"
VAL_LOSS = "val/loss"
LR = "lr"
TRAIN_IMAGES_PER_S = "train/images_per_s"


def top_k_for(num_classes: int) -> int:
    """The k of the top-k accuracy measured on ``num_classes`` classes: 5, or fewer when there are fewer classes."""
    return min(TOP_K, int(num_classes))


def accuracy_metric(stage: str, k: int) -> str:
    """The logged name of top-k accuracy in ``stage`` (train / val): ``val/top1``, ``val/top3``."""
    return f"{stage}/top{k}"


VAL_TOP1 = accuracy_metric("val", 1)   # what the best checkpoint and the time-to-target clock watch
TRAIN_TOP1 = accuracy_metric("train", 1)
VAL_TOP5 = accuracy_metric("val", TOP_K)


VAL_TOP1_CURVE = "val_top1"  # the record's per-epoch curve of val top-1 (%): what time to target reads


def top_field(k: int) -> str:
    """The record field (and curve) of top-k accuracy in %: ``top1``, ``top5``, ``top3`` on 3 classes."""
    return f"top{k}"


def accuracy_fields(metrics: dict[str, float], num_classes: int) -> dict[str, float | int]:
    """Validation metrics (fractions, as logged) as the record's figures in %: ``top1``, ``top{k}``, their errors,
    ``top_k`` (the k measured) and the loss."""
    k = top_k_for(num_classes)
    top1, topk = (100 * float(metrics[accuracy_metric("val", n)]) for n in (1, k))
    return {top_field(1): top1, top_field(k): topk, f"{top_field(1)}_err": 100 - top1,
            f"{top_field(k)}_err": 100 - topk, F.top_k: k, F.loss: float(metrics[VAL_LOSS])}
