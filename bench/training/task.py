"""task=train and task=eval: Lightning fit / validate of a ``ClassifierModule``, summarised for the record."""
from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from bench.job.environment import environment
from bench.job.errors import ConfigError, TaskFailure
from bench.job.record import JobContext

log = logging.getLogger(__name__)
CURVE_KEYS = {"train_loss": "train/loss_epoch", "train_top1": "train/top1", "val_loss": "val/loss",
              "val_top1": "val/top1", "val_top5": "val/top5", "images_per_s": "train/images_per_s"}

# hydra overrides a relaunched rank must not repeat: the sweep's, and those Lightning appends itself
RELAUNCH_DROPPED = r"hydra(\.mode|\.sweep|\.sweeper|\.launcher|/sweeper|/launcher|\.run\.dir|\.job\.name|\.output_subdir)"


class EpochRecorder(Callback):
    """Per-epoch curves (kept in checkpoints, so a resumed run keeps its history) and train throughput."""

    def __init__(self) -> None:
        self.curves: dict[str, list[Any]] = {"epoch": [], "lr": [], **{k: [] for k in CURVE_KEYS}}
        self.images = 0
        self.seconds = 0.0
        self._t0 = self._n = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0, self._n = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._n += len(batch[1]) * trainer.world_size

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self._t0
        self.images, self.seconds = self.images + self._n, self.seconds + seconds
        pl_module.log("train/images_per_s", self._n / max(seconds, 1e-9), sync_dist=False)
        metrics = trainer.callback_metrics
        self.curves["epoch"].append(trainer.current_epoch)
        self.curves["lr"].append(trainer.optimizers[0].param_groups[0]["lr"])
        for key, name in CURVE_KEYS.items():  # accuracies in %, as in the record
            value = _scalar(metrics.get(name))
            self.curves[key].append(100 * value if value is not None and "top" in key else value)

    def state_dict(self) -> dict[str, Any]:
        return {"curves": self.curves, "images": self.images, "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curves, self.images, self.seconds = state_dict["curves"], state_dict["images"], state_dict["seconds"]


def _scalar(value: Any) -> float | None:
    return None if value is None else float(value)


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def build_module(cfg: DictConfig) -> tuple[pl.LightningModule, pl.LightningDataModule]:
    """The net from ``cfg.model``, its ``ClassifierModule`` and the DataModule sized for it."""
    from lightning_modules.classifier import ClassifierModule

    try:
        net = instantiate(cfg.model)
        datamodule = instantiate(cfg.data, model_info=getattr(net, "info", None))
    except Exception as exc:  # Hydra wraps a constructor's ValueError; keep the one line that explains it
        cause = exc.__cause__ or exc
        if isinstance(cause, (ValueError, TypeError)):
            raise ConfigError(str(cause).splitlines()[0]) from exc
        raise
    opts = cfg.get("classifier") or {}
    module = ClassifierModule(
        net, optim=_container(cfg.optim), num_classes=int(cfg.data.num_classes),
        label_smoothing=float(opts.get("label_smoothing", 0.0)), aux_loss_weight=opts.get("aux_loss_weight"),
        model_name=cfg.model.get("name"),
    )
    return module, datamodule


def build_trainer(cfg: DictConfig, ctx: JobContext, callbacks: list[Callback]) -> pl.Trainer:
    """The configured Trainer; the job's record gets the environment it runs in, as benchmark records do."""
    logger: Any = False
    if ctx.wandb_run is not None:
        from lightning.pytorch.loggers import WandbLogger

        logger = WandbLogger(experiment=ctx.wandb_run)  # the job's own run: curves beside the record
    clip = cfg.trainer.get("gradient_clip_val") or (cfg.get("optim") or {}).get("gradient_clip_val")
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger, default_root_dir=str(ctx.out_dir),
                          gradient_clip_val=clip)
    # before the run starts, so a failed job's record says where it failed; the device count is the processes
    # the job trains on (all nodes), not the GPUs the host has, so reports group records by what was used
    ctx.record.update(environment(trainer.strategy.root_device), device_count=trainer.world_size)
    return trainer


def prepare_ddp_relaunch(out_dir: Path) -> None:
    """Make Lightning's DDP relaunch run *this* job in *this* dir.

    Lightning's subprocess launcher starts ranks 1..N-1 with ``sys.argv`` + ``hydra.run.dir=<HydraConfig run.dir>``.
    Inside a multirun that argv is the whole sweep (``-m a=1,2``) and ``run.dir`` is not the job's dir, so each
    rank would start the sweep again elsewhere. Point both at this job: its own overrides and its output dir.
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or rank_zero_only.rank != 0:
        return
    hc = HydraConfig.get()
    with read_write(hc), open_dict(hc):
        hc.run.dir = str(Path(out_dir).resolve())
    flags = [a for a in sys.argv[1:] if re.match(r"--config-(name|path|dir)=|-c[npd]=", a)]
    hydra_kept = [o for o in hc.overrides.hydra if not re.match(RELAUNCH_DROPPED, o.lstrip("+~"))]
    sys.argv = [sys.argv[0], *flags, *hydra_kept, *hc.overrides.task]


def _figures(metrics: dict[str, Any], num_classes: int) -> dict[str, Any]:
    top5_name = f"val/top{min(5, num_classes)}"
    top1, top5 = (100 * float(metrics[k]) for k in ("val/top1", top5_name))
    return {"top1": top1, "top5": top5, "top1_err": 100 - top1, "top5_err": 100 - top5,
            "loss": float(metrics["val/loss"])}


def _reraise_data_error(exc: BaseException) -> None:
    """A loader worker wraps its exception in a traceback text; surface the one line naming the file."""
    found = re.search(r"BadImageError: (.+)", str(exc))
    if found:
        raise TaskFailure("error", found.group(1)) from exc


def _ablation_fields(cfg: DictConfig) -> dict[str, Any]:
    """An ablation row's identity and the paper's figures for it (conf/ablation/), as flat record fields."""
    return _container(cfg.get("ablation")) or {}


def run_train(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """Fit, then validate the best checkpoint; ``ckpt_path=last`` (or a path) resumes."""
    ctx.record.update(_ablation_fields(cfg))  # a failed row still shows in the report beside the paper's figures
    pl.seed_everything(cfg.seed, workers=True)
    module, datamodule = build_module(cfg)
    opts = cfg.get("classifier") or {}
    ckpt_dir = ctx.out_dir / "checkpoints"
    recorder = EpochRecorder()
    callbacks: list[Callback] = [
        # saved at train-epoch end (after validation and after EpochRecorder), so the epoch's curves are in it
        ModelCheckpoint(dirpath=ckpt_dir, filename="best-epoch{epoch:03d}", monitor="val/top1", mode="max", save_last=True,
                        auto_insert_metric_name=False,
                        save_on_train_epoch_end=True),
        # every N steps too, as last-step.ckpt: `ckpt_path=last` takes the newest last*.ckpt, so a killed run
        # resumes mid-epoch
        ModelCheckpoint(dirpath=ckpt_dir, filename="last-step", save_top_k=1, enable_version_counter=False,
                        every_n_train_steps=int(opts.get("checkpoint_every_n_steps") or 0) or None),
        recorder,
    ]
    if opts.get("ema_decay"):
        callbacks.append(EMAWeightAveraging(decay=float(opts.ema_decay)))
    trainer = build_trainer(cfg, ctx, callbacks)
    prepare_ddp_relaunch(ctx.out_dir)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and ckpt_path != "last" and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path {ckpt_path!r} is not a file; give `last` (this job dir's last.ckpt) or a .ckpt path")
    if ckpt_path == "last" and not list(ckpt_dir.glob("last*.ckpt")):
        log.warning("ckpt_path=last but %s has no last*.ckpt: starting from scratch", ckpt_dir)
        ckpt_path = None
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        wall = time.perf_counter() - start
        best = callbacks[0].best_model_path or None
        history = recorder.state_dict()  # validate(ckpt_path=best) reloads the callbacks' state of the best epoch
        final = trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0]
    except Exception as exc:
        _reraise_data_error(exc)
        raise
    skipped = int(trainer.strategy.reduce(torch.tensor(float(module.skipped_images)), reduce_op="sum"))
    best_epoch = int(re.search(r"best-epoch(\d+)", best).group(1)) if best else None
    return {
        **_figures(final, int(cfg.data.num_classes)),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "best_epoch": best_epoch,
        "checkpoint": best,
        "train_time_s": wall,
        "images_per_s": history["images"] / history["seconds"] if history["seconds"] else None,
        "skipped_images": skipped,
        "curves": history["curves"],
    }


def run_eval(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """Top-1/top-5 of a checkpoint (``ckpt_path``) or of imported weights (``model.weights=...``)."""
    module, datamodule = build_module(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        if not Path(ckpt_path).is_file():
            raise ConfigError(f"ckpt_path {ckpt_path!r} is not a file")
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        module.on_load_checkpoint(checkpoint)  # names the model a checkpoint of another model was trained with
        module.load_state_dict(checkpoint["state_dict"])
    elif not cfg.model.get("weights"):
        raise ConfigError("task=eval needs ckpt_path=<.ckpt> or model.weights=<timm/torchvision weights>")
    trainer = build_trainer(cfg, ctx, [])
    start = time.perf_counter()
    try:
        metrics = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    except Exception as exc:
        _reraise_data_error(exc)
        raise
    seconds = time.perf_counter() - start
    n_images = len(datamodule.val_set)
    return {**_figures(metrics, int(cfg.data.num_classes)), "eval_mode": datamodule.eval_mode,
            "eval_time_s": seconds, "images_per_s": n_images / seconds, "val_images": n_images}
