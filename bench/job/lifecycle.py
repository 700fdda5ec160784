"""The record's life cycle around one task function: every task runs inside ``run_job``.

The record is written with status ``running`` before the task starts (with the liveness fields, its
``heartbeat_at`` refreshed while it runs) and rewritten with its final status (see ``Status``) when it ends,
however it ends: a stop signal (``signals``) makes it ``interrupted``. ``run_job`` never raises for a
failed task, so a sweep goes on and still ends with its report. Only global rank 0 writes records and
W&B runs.
"""
from __future__ import annotations

import logging
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from bench.job.config import check_config
from contracts.errors import TaskFailure, config_error_from
from bench.job.liveness import Heartbeat, heartbeat_interval, liveness_fields
from bench.job.record import JobContext, is_multirun, new_record, write_record
from bench.job.signals import StopGuard, StopSignal, stopped_by
from bench.job.storage import STORAGE_ERRNOS, fallback_dir, os_cause, write_final
from contracts.status import Status
from bench.job.tracking import finish_wandb, init_wandb

log = logging.getLogger(__name__)
TaskFn = Callable[[DictConfig, JobContext], dict[str, Any]]
ERROR_LOG = "error.log"


def interrupted_fields(stop: StopSignal, step: int | None, started: bool = True) -> dict[str, Any]:
    """An ``interrupted`` record's part; a job a stopped sweep never started says so (``step_reached`` 0)."""
    if not started:
        return {"status": Status.INTERRUPTED, "signal": stop.name, "step_reached": 0,
                "error": f"not started: the sweep was stopped by {stop.name} before this job began"}
    at = f" at step {step}" if step is not None else ""
    return {"status": Status.INTERRUPTED, "signal": stop.name, "step_reached": step, "error": f"stopped by {stop.name}{at}"}


def run_job(cfg: DictConfig, out_dir: str | Path, task: TaskFn) -> dict[str, Any]:
    """Run ``task`` for ``cfg`` with its record written before and after; returns the final record."""
    writer = rank_zero_only.rank == 0
    record = new_record(cfg, cfg.task)
    ctx = JobContext(out_dir=Path(out_dir), record=record)
    heartbeat: Heartbeat | None = None
    started = True  # False for a job a stopped sweep records without running it
    with StopGuard() as guard:
        ctx.guard = guard
        try:
            record.update(liveness_fields(heartbeat_interval(cfg)))
            if writer:
                write_record(record, out_dir)
                heartbeat = Heartbeat(record, lambda snapshot: write_record(snapshot, out_dir))
                heartbeat.start()
            earlier = stopped_by()
            if earlier and is_multirun():  # a stop signal ended an earlier job of this process: the sweep stops
                started = False
                raise StopSignal(signal.Signals[earlier])
            if writer:
                ctx.wandb_run = init_wandb(cfg, record, out_dir)
            check_config(cfg)
            record.update(task(cfg, ctx))
            record["status"] = Status.OK
        except StopSignal as stop:
            record.update(interrupted_fields(stop, ctx.step, started))
        except KeyboardInterrupt:  # SIGINT outside the main thread, where no handler can be installed
            record.update(interrupted_fields(StopSignal(signal.SIGINT), ctx.step))
        except TaskFailure as exc:
            record.update(status=exc.status, error=str(exc))
        except Exception as exc:
            bad_option = config_error_from(exc)
            if bad_option is not None:
                record.update(status=Status.ERROR, error=str(bad_option))
            elif isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:  # the disk, not the task: name the errno
                record.update(status=Status.ERROR, error=f"{os_cause(exc)}: {exc.filename or out_dir}")
            else:  # a bug or an unexpected failure: one line in the record, the traceback beside it
                record.update(status=Status.ERROR, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
                if writer:
                    Path(out_dir, ERROR_LOG).write_text(traceback.format_exc())
                log.debug("task failed", exc_info=True)
        finally:
            guard.finishing()
            if heartbeat is not None:
                heartbeat.stop()
            if writer:
                write_final(record, out_dir, fallback_dir(cfg))  # a failed write keeps the record (stdout, fallback dir)
                finish_wandb(ctx.wandb_run, record)
    return record
