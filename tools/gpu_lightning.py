"""Lightning's training loop against a bare PyTorch loop: same model, optimizer, schedule, batches and precision.

The Lightning side is the harness's own ``task=train`` job (its record's ``images_per_s`` times each
epoch from start to end, the epoch's validation included). The bare side builds the same
``ClassifierModule`` and DataModule from the same config and times one epoch plus one validation pass
the same way. The loader alone and the bare steps on one batch kept on the device ("model alone") are timed
too, and both loops' waits for data are measured: when any says the loader set the pace, the ratio measures the
data pipeline, not Lightning, and the result says so.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from bench.training.task import build_module
from contracts.record import F
from lightning_modules.classifier import lr_factor
from lightning_modules.throughput import DATA_BOUND_RATIO

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

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with autocast():
            _logits, loss = module.loss(module(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), float(clip))
        optimizer.step()
        scheduler.step()

    images, wait_s = 0, 0.0
    _synchronize(device)
    start = time.perf_counter()
    module.train()
    batches = iter(train_loader)
    while True:
        asked = time.perf_counter()  # the time next() blocks is the loop waiting for data, as Lightning's record counts it
        batch = next(batches, None)
        wait_s += time.perf_counter() - asked
        if batch is None:
            break
        x, y, _skipped = datamodule.prepare_batch(batch, device, train=True)  # uint8 -> augmented float on the device
        step(x, y)
        images += len(y)
    module.eval()
    with torch.inference_mode(), autocast():
        for batch in val_loader:
            module.predict_proba(datamodule.prepare_batch(batch, device, train=False)[0])
    _synchronize(device)
    seconds = time.perf_counter() - start
    return {"bare_images_per_s": images / seconds, "bare_seconds": seconds, "bare_steps": len(train_loader),
            "bare_loader_wait_share": wait_s / seconds,
            "model_alone_images_per_s": _resident_images_per_s(step, x, y, len(train_loader), device),
            "loader_images_per_s": loader_images_per_s(datamodule.train_dataloader())}


def _resident_images_per_s(step: Callable[[torch.Tensor, torch.Tensor], None], x: torch.Tensor, y: torch.Tensor,
                           steps: int, device: torch.device) -> float:
    """The same steps on one batch kept on the device: what the loop reaches with no loader at all."""
    step(x, y)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    _synchronize(device)
    return steps * len(y) / (time.perf_counter() - start)


def compare(lightning_record: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """The ratio and whether the loader, not the loop, set the pace: the loader alone not well ahead of the loop,
    or either loop waiting for data (the loader alone can run far faster than it does beside a training loop: on
    the H200, 7053 img/s alone and 40% of each Lightning step waiting at 1100 img/s), or the bare loop well
    below the same steps on a batch kept on the device."""
    lightning = lightning_record.get(F.images_per_s)
    ratio = lightning / bare["bare_images_per_s"] if lightning else None
    wait = lightning_record.get(F.loader_wait_share)
    data_bound = (bare["loader_images_per_s"] < DATA_BOUND_MARGIN * bare["bare_images_per_s"]
                  or bool(lightning_record.get(F.data_bound)) or bare["bare_loader_wait_share"] > 1 - DATA_BOUND_RATIO
                  or bare["bare_images_per_s"] < DATA_BOUND_RATIO * bare["model_alone_images_per_s"])
    return {**bare, "lightning_images_per_s": lightning, "lightning_over_bare": ratio,
            "lightning_loader_wait_share": wait, "data_bound": data_bound}

