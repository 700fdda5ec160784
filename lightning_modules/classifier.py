"""``ClassifierModule``: trains and evaluates any net of the zoo (Inception papers' losses, metrics, schedules)."""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from contracts.errors import TaskFailure
from contracts.metrics import LR, TRAIN_LOSS, VAL_LOSS, accuracy_metric, top_k_for
from contracts.status import Status


class ClassifierModule(pl.LightningModule):
    """Cross-entropy with label smoothing plus weighted aux-head losses; top-1 and top-k accuracy
    (k = ``contracts.metrics.top_k_for(num_classes)``: 5, or the number of classes when there are fewer).

    Args:
        net: a model of the zoo: logits in eval, ``(logits, aux_logits)`` in training when aux heads are on.
        optim: the ``conf/optim`` group: ``optimizer`` (a ``_target_`` config without params), ``schedule``
            (``decay_epochs``, ``gamma``, ``warmup_epochs``) and ``lr_ref_batch`` (linear scaling of lr with the
            global batch; null: no scaling).
        label_smoothing: epsilon of Rethinking Sec.7 (0.1 there).
        aux_loss_weight: weight of each aux-head loss; None: the net's ``info.aux_loss_weight`` (0.3 GoogLeNet).
        model_name: stored with checkpoints so that resuming another model's checkpoint fails clearly.
        channels_last: the net and its inputs in NHWC (TensorFlow's layout, the benchmarks' default), faster on
            tensor cores (H200, bf16 forward 1.11x); dropout draws its masks in memory order, so a seeded run's
            masks differ between layouts.
    """

    def __init__(
        self,
        net: nn.Module,
        optim: dict[str, Any],
        num_classes: int,
        label_smoothing: float = 0.0,
        aux_loss_weight: float | None = None,
        model_name: str | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(memory_format=self.layout)
        info = getattr(net, "info", None)
        self.aux_weight = aux_loss_weight if aux_loss_weight is not None else getattr(info, "aux_loss_weight", 0.0)
        top_k = top_k_for(num_classes)
        self.metrics = nn.ModuleDict({
            f"{stage}_top{k}": MulticlassAccuracy(num_classes, top_k=k, average="micro")
            for stage in ("train", "val") for k in (1, top_k)
        })
        self.top_k = top_k
        self.skipped_images = 0  # unreadable images left out by the loaders (this rank)
        self._first_nonfinite: torch.Tensor | None = None  # on the device: the first step whose loss was not finite
        self._nonfinite_loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The net on an ``N x C x H x W`` batch in the module's layout (a copy only when it is in another)."""
        return self.net(x.contiguous(memory_format=self.layout))

    def _update_metrics(self, stage: str, scores: torch.Tensor, y: torch.Tensor) -> None:
        for k in (1, self.top_k):
            metric = self.metrics[f"{stage}_top{k}"]
            metric(scores, y)
            self.log(accuracy_metric(stage, k), metric, on_step=False, on_epoch=True, prog_bar=k == 1)

    def training_step(self, batch: tuple[Any, ...], batch_idx: int) -> torch.Tensor | None:
        x, y, bad = batch  # bad: the unreadable images the batch left out (lightning_modules.collate.BadImage)
        self.skipped_images += len(bad)
        if len(y) == 0:
            return None  # every image of the batch was unreadable
        logits, loss = self.loss(self(x), y)
        self._check_finite(loss, batch_idx)
        self.log(TRAIN_LOSS, loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log(LR, self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        self._update_metrics("train", logits.detach(), y)
        return loss

    def loss(self, out: torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]], y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(main logits, smoothed CE of the main head + aux_weight x each aux head's)."""
        logits, aux = out if isinstance(out, tuple) else (out, ())
        smoothing = self.hparams.label_smoothing
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
        for aux_logits in aux:
            loss = loss + self.aux_weight * F.cross_entropy(aux_logits, y, label_smoothing=smoothing)
        return logits, loss

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities; for ``N x V x C x H x W`` multi-crop input, the softmax averaged over the V views."""
        if x.dim() == 5:
            n, v = x.shape[:2]
            return self(x.flatten(0, 1)).softmax(-1).view(n, v, -1).mean(1)
        return self(x).softmax(-1)

    def _check_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stop as ``diverged`` at the first non-finite loss, read without a device sync on every step.

        Reading the loss on the host each step (``bool(isfinite(loss))``) waits for the device to finish the step
        before the next is queued; on a GPU that idles it through every gap between steps. The first non-finite
        step and its loss stay on the device; they are read every ``log_every_n_steps`` steps (when Lightning reads
        the logged loss anyway), at each epoch's last batch (before its checkpoint) and at the last step.
        """
        trainer = self.trainer
        step = torch.full((), self.global_step, device=loss.device, dtype=torch.long)
        if self._first_nonfinite is None or self._first_nonfinite.device != loss.device:
            self._first_nonfinite = torch.full((), -1, device=loss.device, dtype=torch.long)
            self._nonfinite_loss = torch.zeros((), device=loss.device, dtype=loss.dtype)
        first = (self._first_nonfinite < 0) & ~torch.isfinite(loss.detach())
        self._first_nonfinite = torch.where(first, step, self._first_nonfinite)
        self._nonfinite_loss = torch.where(first, loss.detach(), self._nonfinite_loss)
        due = ((self.global_step + 1) % max(1, trainer.log_every_n_steps) == 0
               or batch_idx + 1 >= trainer.num_training_batches
               or 0 < trainer.max_steps <= self.global_step + 1)
        if not due:
            return
        # decided across ranks so that every DDP process stops at the same step instead of hanging
        at = int(self._first_nonfinite)
        if trainer.strategy.reduce_boolean_decision(at >= 0, all=False):
            where = f"at step {at}" if at >= 0 else f"on another rank by step {self.global_step}"
            raise TaskFailure(
                Status.DIVERGED,
                f"training loss became {float(self._nonfinite_loss) if at >= 0 else 'non-finite'} {where} "
                f"(epoch {self.current_epoch}); lower optim.optimizer.lr, add warm-up (optim.schedule.warmup_epochs) "
                "or clip gradients",
            )

    def validation_step(self, batch: tuple[Any, ...], batch_idx: int) -> None:
        x, y, bad = batch
        self.skipped_images += len(bad)
        if len(y) == 0:
            return
        probs = self.predict_proba(x)
        loss = F.nll_loss(probs.clamp_min(1e-12).log(), y)
        self.log(VAL_LOSS, loss, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(y))
        self._update_metrics("val", probs, y)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["skipped_images"] = self.skipped_images

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("hyper_parameters", {}).get("model_name")
        if saved != self.hparams.model_name:
            raise TaskFailure(
                Status.ERROR, f"checkpoint was trained with model {saved!r}, not {self.hparams.model_name!r}; "
                f"pass model={saved} or another ckpt_path",
            )
        self.skipped_images = checkpoint.get("skipped_images", 0)

    # ------------------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        optim = self.hparams.optim
        # weight decay on weights only: decaying BN scales and biases only hurts (common practice, not in the papers)
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.ndim > 1]},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
        lr = optim["optimizer"]["lr"] * self._lr_scale(optim.get("lr_ref_batch"))
        optimizer = instantiate(optim["optimizer"], _partial_=True)(groups, lr=lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor(optim.get("schedule") or {}))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _lr_scale(self, ref_batch: int | None) -> float:
        """Linear scaling rule: lr x global batch / reference batch (Goyal et al. 2017)."""
        if not ref_batch:
            return 1.0
        trainer = self.trainer
        batch = trainer.datamodule.batch_size * trainer.world_size * trainer.accumulate_grad_batches
        return batch / ref_batch

    def _lr_factor(self, schedule: dict[str, Any]) -> Callable[[int], float]:
        steps_per_epoch = max(1, self.trainer.estimated_stepping_batches // max(1, self.trainer.max_epochs))
        return partial(lr_factor, steps_per_epoch=steps_per_epoch, **schedule)


def lr_factor(step: int, steps_per_epoch: int, warmup_epochs: float = 0, decay_epochs: float = 0, gamma: float = 1.0) -> float:
    """Linear warm-up, then x ``gamma`` every ``decay_epochs`` (staircase, as in the papers)."""
    warmup, decay = warmup_epochs * steps_per_epoch, decay_epochs * steps_per_epoch
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return warm * (gamma ** math.floor(step / decay) if decay else 1.0)
