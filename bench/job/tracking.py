"""The job's W&B run: offline by default, one run per job, closed with the record in its summary."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bench.job.record import summary_fields
from contracts.status import Status
from contracts.record import F

log = logging.getLogger(__name__)


def init_wandb(cfg: DictConfig, record: dict[str, Any], out_dir: str | Path, resume: bool = False) -> Any:
    """Open this job's W&B run: offline unless ``logger.mode=online``; ``logger=none`` opens none.

    Offline runs never touch the network (``wandb sync <run dir>`` uploads them later). Each job gets
    its own run (``reinit='finish_previous'``), grouped by sweep so a multirun reads as one group.
    """
    logger = cfg.get("logger") or {}
    if logger.get("name", "none") != "wandb" or logger.get("mode") == "disabled":
        return None
    import wandb

    mode = logger.get("mode", "offline")
    if mode == "offline":
        os.environ["WANDB_MODE"] = "offline"  # also covers Lightning's WandbLogger and child processes
    wandb_dir = Path(logger.get("dir") or out_dir)
    wandb_dir.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        project=logger.get("project", "inception-bench"),
        entity=logger.get("entity"),
        group=logger.get("group") or record.get(F.sweep_id) or None,
        job_type=record[F.task],
        name=f"{cfg.get('job_label') or record[F.task]}-{record[F.run_id]}",
        id=record[F.run_id],
        tags=list(logger.get("tags") or []),
        dir=str(wandb_dir),
        config=record[F.config],
        mode=mode,
        resume="allow" if resume else None,
        reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True),
    )


def finish_wandb(run: Any, record: dict[str, Any]) -> None:
    """Put the record in the run summary and a one-row W&B Table, then close the run."""
    if run is None:
        return
    import wandb

    fields = summary_fields(record)
    run.summary.update(fields)
    columns = sorted(fields)
    run.log({"record": wandb.Table(columns=columns, data=[[fields[c] for c in columns]])})
    run.finish(exit_code=0 if record[F.status] == Status.OK else 1)


def finish_killed_wandb(cfg: DictConfig, record: dict[str, Any], out_dir: str | Path) -> None:
    """A job that died before closing its W&B run (SIGKILL, a segfault) left it open: reopen it (same id) and close
    it with the record its parent wrote (``killed``).

    Offline, the reopened run is a second ``offline-run-*-<run_id>`` dir beside the first; ``wandb sync`` of both
    uploads one run, ended ``failed`` with ``status: killed`` in its summary. A W&B failure here never costs the
    record, which is written before.

    A wandb-core service this process shares with the dead child (``WANDB_SERVICE``, inherited from whoever
    started both) still holds the child's stream of that run id and refuses it as "in use": the reopening gets
    a service of its own.
    """
    shared = os.environ.pop("WANDB_SERVICE", None)
    try:
        finish_wandb(init_wandb(cfg, record, out_dir, resume=True), record)
    except Exception as exc:  # noqa: BLE001 - the record is what matters; W&B is its mirror
        log.warning("the killed job's W&B run could not be closed: %s", exc)
    finally:
        if shared is not None:
            os.environ["WANDB_SERVICE"] = shared
