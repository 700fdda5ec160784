"""task=train and task=eval: Lightning fit / validate of a ``ClassifierModule``, summarised for the record.

Every checkpoint is read weights-only (``ckpt_path`` for resume and eval, through Lightning's own restore):
a file whose pickle would run code is refused with one line and nothing of it runs.
"""
from __future__ import annotations

import logging
import pickle
import re
import signal
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from bench.job.environment import environment
from contracts.errors import ConfigError, check_choice
from bench.job.record import JobContext
from bench.job.signals import StopSignal
from bench.reference import RETHINKING_TABLE3, table3_fields
from bench.training.callbacks import build_callbacks
from bench.training.energy import EnergyToTrain, not_metered
from bench.training.relaunch import prepare_ddp_relaunch
from bench.training.time_to_accuracy import check_train_options, time_to_accuracy, train_identity
from contracts.metrics import accuracy_fields, top_k_for
from contracts.record import F
from lightning_modules.callbacks import BestCheckpoint, EpochRecorder, TimeToTarget
from lightning_modules.loader_stall import LoaderStalled, failing_on_stall
from lightning_modules.mllog import MLLogCallback
from lightning_modules.throughput import ThroughputMeter

log = logging.getLogger(__name__)


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def build_module(cfg: DictConfig, drop_aux: bool = False) -> tuple[pl.LightningModule, pl.LightningDataModule]:
    """The net from ``cfg.model``, its ``ClassifierModule`` and the DataModule sized for it.

    ``model.weights`` without aux-head weights: the aux heads are dropped when ``drop_aux`` (evaluation does
    not use them), else they start from their initialisation (training).
    """
    from lightning_modules.classifier import ClassifierModule

    net = instantiate(cfg.model)
    if getattr(net, "aux_weights_loaded", True) is False:  # only zoo nets with aux heads say False
        if drop_aux:
            net.drop_aux_heads()
            log.info("model.weights has no aux-head weights: aux heads dropped (evaluation does not use them)")
        else:
            log.info("model.weights has no aux-head weights: aux heads start from their initialisation")
    datamodule = instantiate(cfg.data, model_info=getattr(net, "info", None))
    opts = cfg.classifier  # typed (ClassifierConfig): checked with the config
    module = ClassifierModule(
        net, optim=_container(cfg.optim), num_classes=int(cfg.data.num_classes),
        label_smoothing=opts.label_smoothing, aux_loss_weight=opts.aux_loss_weight,
        model_name=cfg.model.get("name"), channels_last=opts.channels_last,
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




def refused_checkpoint(path: str | Path, exc: pickle.UnpicklingError) -> ConfigError:
    """The one line for a checkpoint that is not weights-only (torch refused it before running any of it)."""
    found = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
    calls = f" (its pickle would call {found.group(1)})" if found else ""
    return ConfigError(f"refused checkpoint {path}: not weights-only{calls}; none of it was run. Only tensors and plain "
                       "containers are loaded: re-save it as a state_dict of tensors if you trust its source")


def newest_last(ckpt_dir: Path) -> Path | None:
    """What ``ckpt_path=last`` resumes: the newest ``last*.ckpt`` (epoch end, every N steps, or a stop signal's)."""
    return max(ckpt_dir.glob("last*.ckpt"), key=lambda p: (p.stat().st_mtime_ns, p.name == "last.ckpt"), default=None)


def resolve_ckpt_path(ckpt_path: str | None, ckpt_dir: Path) -> Path | None:
    """``last``: this job dir's newest ``last*.ckpt`` (None: no checkpoint yet); a path: the file, checked."""
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        found = newest_last(ckpt_dir)
        if found is None:
            log.warning("ckpt_path=last but %s has no last*.ckpt: starting from scratch", ckpt_dir)
        return found
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path {ckpt_path!r} is not a file; give `last` (this job dir's last.ckpt) or a .ckpt path")
    return Path(ckpt_path)


def _ablation_fields(cfg: DictConfig) -> dict[str, Any]:
    """An ablation row's identity (conf/ablation/) and the paper's figures for it (bench.reference), as record fields."""
    ablation = cfg.get("ablation")
    if not ablation:
        return {}
    check_choice("ablation.row", ablation.row, RETHINKING_TABLE3)
    return table3_fields(ablation.row)


def _one(callbacks: list[Callback], kind: type) -> Any:
    return next((c for c in callbacks if isinstance(c, kind)), None)


def run_train(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """Fit, then validate the best checkpoint; ``ckpt_path=last`` (or a path) resumes; a stop signal saves ``last.ckpt``.

    With ``train.target_top1`` the run stops at the target and records its time to it (``TimeToAccuracy``).
    """
    started = time.time()  # init begins: the event log's init_start, the record's init_time_s
    check_train_options(cfg)
    ctx.record.update(train_identity(cfg))  # a run that fails still counts (a miss) in its group of seeds
    ctx.record.update(_ablation_fields(cfg))  # a failed row still shows in the report beside the paper's figures
    pl.seed_everything(cfg.seed, workers=True)
    module, datamodule = build_module(cfg)
    ckpt_dir = ctx.out_dir / "checkpoints"
    event_log = ctx.out_dir / "mllog.txt"
    callbacks = build_callbacks(cfg.get("callbacks"), {
        "dirpath": ckpt_dir, F.checkpoint: ckpt_dir / "last.ckpt", "guard": ctx.guard, "path": event_log,
        "started_s": started, F.top_k: top_k_for(cfg.data.num_classes)})
    recorder, best, target, meter, energy = (_one(callbacks, kind) for kind in
                                             (EpochRecorder, BestCheckpoint, TimeToTarget, ThroughputMeter, EnergyToTrain))
    if recorder is None or best is None:
        raise ConfigError("the callbacks group must keep epoch_recorder and best_checkpoint: the record is made from them")
    trainer = build_trainer(cfg, ctx, callbacks)
    prepare_ddp_relaunch(ctx.spec, trainer)
    resume = resolve_ckpt_path(cfg.get("ckpt_path"), ckpt_dir)
    has_log = _one(callbacks, MLLogCallback) is not None and trainer.is_global_zero
    ctx.record.update({F.resumed_from: str(resume) if resume else None,
                       F.event_log: str(event_log) if has_log else None})
    try:
        with failing_on_stall(datamodule.timeout_s):
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise refused_checkpoint(resume, exc) from None
    except (StopSignal, SIGTERMException, LoaderStalled) as exc:  # Lightning stops itself on SIGTERM too
        ctx.step = trainer.global_step
        last = newest_last(ckpt_dir)  # what ckpt_path=last resumes (a stall: once the storage answers again)
        # the clock so far (what the checkpoint carries on): a resumed run adds to it
        ctx.record.update({F.checkpoint: str(last) if last else None, F.train_time_s: recorder.elapsed(),
                           F.eval_time_s: recorder.eval_elapsed()})
        if isinstance(exc, (StopSignal, LoaderStalled)):
            raise
        pending = ctx.guard.pending if ctx.guard is not None else None
        raise pending or StopSignal(signal.SIGTERM) from None
    if meter is not None:
        print(meter.verdict())
    # validate(ckpt_path=best) reloads the callbacks' state of the best epoch: read them first
    init_s = recorder.segment_started - started if recorder.segment_started is not None else None
    joules = energy.figures(trainer, recorder) if energy is not None else not_metered()  # every rank: a sum over them
    timed = time_to_accuracy(cfg, recorder, target, init_s, ctx.record[F.event_log], joules)
    history, best_path, best_epoch = recorder.state_dict(), best.best_model_path or None, best.best_epoch
    with failing_on_stall(datamodule.timeout_s):
        final = trainer.validate(module, datamodule=datamodule, ckpt_path=best_path, verbose=False, weights_only=True)[0]
    skipped = int(trainer.strategy.reduce(torch.tensor(float(module.skipped_images)), reduce_op="sum"))
    leave_process_group()
    return {
        **accuracy_fields(final, int(cfg.data.num_classes)),
        F.num_classes: int(cfg.data.num_classes),
        F.eval_mode: datamodule.eval_mode,
        F.epochs: trainer.current_epoch,
        F.global_step: trainer.global_step,
        F.best_epoch: best_epoch,
        F.checkpoint: best_path,
        **timed,
        F.images_per_s: timed[F.train_images_per_s],
        F.skipped_images: skipped,
        F.curves: history[F.curves],
        **(meter.figures() if meter is not None else {}),
    }


def leave_process_group() -> None:
    """DDP: the ranks leave together and destroy their process group, as PyTorch asks before a process exits. A
    rank that exited holding it (rank 1 ends first: only rank 0 writes the record) tore gloo down at interpreter
    exit, and once in a full test suite that aborted it ("terminate called without an active exception"),
    which Lightning's launcher turns into killing every rank."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def run_eval(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """Top-1/top-5 of a checkpoint (``ckpt_path``, restored by Lightning) or of imported weights (``model.weights=...``)."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path {ckpt_path!r} is not a file")
    if not ckpt_path and not cfg.model.get("weights"):
        raise ConfigError("task=eval needs ckpt_path=<.ckpt> or model.weights=<timm/torchvision weights>")
    module, datamodule = build_module(cfg, drop_aux=True)
    trainer = build_trainer(cfg, ctx, [])
    start = time.perf_counter()
    try:
        with failing_on_stall(datamodule.timeout_s):
            metrics = trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path or None, verbose=False,
                                       weights_only=True)[0]
    except pickle.UnpicklingError as exc:
        raise refused_checkpoint(ckpt_path, exc) from None
    seconds = time.perf_counter() - start
    n_images = len(datamodule.val_set)
    return {**accuracy_fields(metrics, int(cfg.data.num_classes)), F.num_classes: int(cfg.data.num_classes),
            F.eval_mode: datamodule.eval_mode,
            F.eval_time_s: seconds, F.images_per_s: n_images / seconds, F.val_images: n_images}
