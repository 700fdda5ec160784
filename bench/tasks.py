"""One function per task; ``run_task`` wraps each in the record's life cycle.

The record is written with status ``running`` before the task starts and rewritten with the final
status (``ok``, ``oom``, ``error``, ``diverged``, ``interrupted``) when it ends, however it ends.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from .errors import ConfigError, TaskFailure, check_choice
from .results import JobContext, finish_wandb, init_wandb, new_record, write_record

log = logging.getLogger(__name__)
TaskFn = Callable[[DictConfig, JobContext], dict[str, Any]]


def _benchmark(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    from .benchmark import run_benchmark

    return run_benchmark(cfg, ctx)


def _train(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    from .training import run_train

    return run_train(cfg, ctx)


def _eval(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    from .training import run_eval

    return run_eval(cfg, ctx)


def _report(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    from .report import run_report

    return run_report(cfg, ctx)


TASKS: dict[str, TaskFn] = {"benchmark": _benchmark, "train": _train, "eval": _eval, "report": _report}


def run_task(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run ``cfg.task`` and return its final record; only global rank 0 writes records and W&B runs."""
    check_choice("task", cfg.task, TASKS)
    writer = rank_zero_only.rank == 0
    record = new_record(cfg, cfg.task)
    ctx = JobContext(out_dir=Path(out_dir), record=record)
    if writer:
        write_record(record, out_dir)
        ctx.wandb_run = init_wandb(cfg, record, out_dir)
    try:
        record.update(TASKS[cfg.task](cfg, ctx))
        record["status"] = "ok"
    except TaskFailure as exc:
        record.update(status=exc.status, error=str(exc))
    except ConfigError as exc:
        record.update(status="error", error=str(exc))
    except KeyboardInterrupt:
        record.update(status="interrupted", error="interrupted by the user (Ctrl-C) or a stop signal")
        raise
    except Exception as exc:  # recorded, with the traceback kept beside the record
        cause = exc.__cause__ if isinstance(exc, InstantiationException) and exc.__cause__ else exc
        record.update(status="error", error=f"{type(cause).__name__}: {cause}".splitlines()[0])
        if writer:
            Path(out_dir, "error.log").write_text(traceback.format_exc())
        log.debug("task failed", exc_info=True)
    finally:
        if writer:
            write_record(record, out_dir)
            finish_wandb(ctx.wandb_run, record)
    return record
