"""Lightning's training loop against a bare PyTorch loop: same model, optimizer, schedule, batches and precision.

The Lightning side is the harness's own ``task=train`` job (its record's ``images_per_s`` times each
epoch from start to end, the epoch's validation included). The bare side builds the same
``ClassifierModule`` and DataModule from the same config and times one epoch plus one validation pass
the same way. The loader alone is timed too: when it is not well ahead of the bare loop, the ratio
measures the data pipeline, not Lightning, and the result says so.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from bench.training.task import build_module
from lightning_modules.classifier import lr_factor

AUTOCAST = {"bf16-mixed": torch.bfloat16, "32-true": None, "32": None}
DATA_BOUND_MARGIN = 1.2  # the loader must deliver 20% more than the loop consumes to be out of the way


def _optimizer(module: torch.nn.Module, optim: DictConfig, batch_size: int) -> torch.optim.Optimizer:
    """The optimizer ``ClassifierModule.configure_optimizers`` builds: no weight decay on BN and biases."""
    params = [p for p in module.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim > 1]},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    ref = optim.get("lr_ref_batch")
    lr = optim.optimizer.lr * (batch_size / ref if ref else 1.0)
    return instantiate(optim.optimizer, _partial_=True)(groups, lr=lr)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_images_per_s(loader: Iterable[Any]) -> float:
    """Images per second the loader delivers on its own (workers started inside the timing, as in training)."""
    start, images = time.perf_counter(), 0
    for _x, y, _skipped in loader:
        images += len(y)
    return images / (time.perf_counter() - start)


def bare_epoch(cfg: DictConfig, device: torch.device) -> dict[str, Any]:
    """One training epoch and one validation pass of the config's model in a plain loop; images/s of it."""
    precision = str(cfg.trainer.precision)
    if precision not in AUTOCAST:
        raise ValueError(f"bare loop mirrors trainer.precision {', '.join(AUTOCAST)}; got {precision!r}")
    dtype = AUTOCAST[precision]
    module, datamodule = build_module(cfg)
    datamodule.setup("fit")
    module.to(device)
    batch_size = int(cfg.data.batch_size)
    optimizer = _optimizer(module, cfg.optim, batch_size)
    train_loader, val_loader = datamodule.train_dataloader(), datamodule.val_dataloader()
    schedule = partial(lr_factor, steps_per_epoch=len(train_loader), **(cfg.optim.get("schedule") or {}))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    clip = cfg.trainer.get("gradient_clip_val") or cfg.optim.get("gradient_clip_val")
    autocast = partial(torch.autocast, device.type, dtype=dtype, enabled=dtype is not None)
    images = 0
    _synchronize(device)
    start = time.perf_counter()
    module.train()
    for batch in train_loader:
        x, y, _skipped = datamodule.prepare_batch(batch, device, train=True)  # uint8 -> augmented float on the device
        with autocast():
            _logits, loss = module.loss(module.net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), float(clip))
        optimizer.step()
        scheduler.step()
        images += len(y)
    module.eval()
    with torch.inference_mode(), autocast():
        for batch in val_loader:
            module.predict_proba(datamodule.prepare_batch(batch, device, train=False)[0])
    _synchronize(device)
    seconds = time.perf_counter() - start
    return {"bare_images_per_s": images / seconds, "bare_seconds": seconds, "bare_steps": len(train_loader),
            "loader_images_per_s": loader_images_per_s(datamodule.train_dataloader())}


def compare(lightning_record: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """The ratio and whether the loader, not the loop, set the pace."""
    lightning = lightning_record.get("images_per_s")
    ratio = lightning / bare["bare_images_per_s"] if lightning else None
    data_bound = bare["loader_images_per_s"] < DATA_BOUND_MARGIN * bare["bare_images_per_s"]
    return {**bare, "lightning_images_per_s": lightning, "lightning_over_bare": ratio, "data_bound": data_bound}

