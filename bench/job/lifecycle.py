"""The record's life cycle around one task function: every task runs inside ``run_job``.

The record is written with status ``running`` before the task starts and rewritten with its final
status (see ``Status``) when it ends, however it ends. Only global rank 0 writes records and W&B runs.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from bench.job.errors import TaskFailure, config_error_from
from bench.job.record import JobContext, new_record, write_record
from bench.job.status import Status
from bench.job.tracking import finish_wandb, init_wandb

log = logging.getLogger(__name__)
TaskFn = Callable[[DictConfig, JobContext], dict[str, Any]]
ERROR_LOG = "error.log"


def run_job(cfg: DictConfig, out_dir: str | Path, task: TaskFn) -> dict[str, Any]:
    """Run ``task`` for ``cfg`` with its record written before and after; returns the final record."""
    writer = rank_zero_only.rank == 0
    record = new_record(cfg, cfg.task)
    ctx = JobContext(out_dir=Path(out_dir), record=record)
    if writer:
        write_record(record, out_dir)
        ctx.wandb_run = init_wandb(cfg, record, out_dir)
    try:
        record.update(task(cfg, ctx))
        record["status"] = Status.OK
    except TaskFailure as exc:
        record.update(status=exc.status, error=str(exc))
    except KeyboardInterrupt:
        record.update(status=Status.INTERRUPTED, error="interrupted by the user (Ctrl-C) or a stop signal")
        raise
    except Exception as exc:
        bad_option = config_error_from(exc)
        if bad_option is not None:
            record.update(status=Status.ERROR, error=str(bad_option))
        else:  # a bug or an unexpected failure: one line in the record, the traceback beside it
            record.update(status=Status.ERROR, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            if writer:
                Path(out_dir, ERROR_LOG).write_text(traceback.format_exc())
            log.debug("task failed", exc_info=True)
    finally:
        if writer:
            write_record(record, out_dir)
            finish_wandb(ctx.wandb_run, record)
    return record
