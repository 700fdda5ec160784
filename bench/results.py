"""The result record: one flat JSON per job, written atomically, mirrored to a W&B run.

One record per job is the unit everything builds on: a sweep is many records, a report is a
DataFrame of records. A record is written with status ``running`` when the job starts and
rewritten with its final status at the end, so a killed job leaves a record that says so.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

RECORD_FILE = "record.json"
SCHEMA_VERSION = 1
FINAL_STATUSES = ("ok", "oom", "error", "diverged", "interrupted")


@dataclass
class JobContext:
    """What a task function gets besides the config: where to write, and the job's W&B run (or None)."""

    out_dir: Path
    record: dict[str, Any]
    wandb_run: Any = None


def hydra_job_identity(cfg: DictConfig) -> dict[str, Any]:
    """Output dir, sweep dir and job number from Hydra's runtime config (empty outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    multirun = str(hc.mode) == "RunMode.MULTIRUN"
    sweep_dir = Path(hc.sweep.dir) if multirun else None
    return {
        "out_dir": str(Path(hc.runtime.output_dir).resolve()),
        "sweep_id": sweep_dir.name if sweep_dir else None,
        "sweep_dir": str(sweep_dir.resolve()) if sweep_dir else None,
        "job_num": hc.job.num if multirun else None,
        "overrides": list(hc.overrides.task),
    }


def new_record(cfg: DictConfig, task: str) -> dict[str, Any]:
    """Identity and configuration of a job; environment and figures are added by the task."""
    model = cfg.get("model") or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex[:12],
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "status": "running",
        "error": None,
        "model": model.get("name"),
        "data": (cfg.get("data") or {}).get("name"),
        "config": OmegaConf.to_container(cfg, resolve=True),
        **hydra_job_identity(cfg),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_record(record: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``record.json`` atomically: a reader sees the old file or the new one, never half of one."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORD_FILE
    fd, tmp = tempfile.mkstemp(prefix=".record-", suffix=".json", dir=out_dir)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_json_safe(record), f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


# --------------------------------------------------------------------------------------- W&B
def init_wandb(cfg: DictConfig, record: dict[str, Any], out_dir: str | Path) -> Any:
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
        group=logger.get("group") or record.get("sweep_id") or None,
        job_type=record["task"],
        name=f"{record['task']}-{record.get('model')}-{record['run_id']}",
        id=record["run_id"],
        tags=list(logger.get("tags") or []),
        dir=str(wandb_dir),
        config=record["config"],
        mode=mode,
        reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True),
    )


def summary_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The flat, scalar part of a record (no config, no per-step lists): what a summary or table row holds."""
    return {
        k: v for k, v in _json_safe(record).items()
        if k != "config" and (v is None or isinstance(v, (str, int, float, bool)))
    }


def finish_wandb(run: Any, record: dict[str, Any]) -> None:
    """Put the record in the run summary and a one-row W&B Table, then close the run."""
    if run is None:
        return
    import wandb

    fields = summary_fields(record)
    run.summary.update(fields)
    columns = sorted(fields)
    run.log({"record": wandb.Table(columns=columns, data=[[fields[c] for c in columns]])})
    run.finish(exit_code=0 if record["status"] == "ok" else 1)
