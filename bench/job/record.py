"""The result record: one flat JSON per job, written atomically (``tracking`` mirrors it to W&B).

One record per job is the unit everything builds on: a sweep is many records, a report is a
DataFrame of records. A record is written with status ``running`` when the job starts and
rewritten with its final status at the end, so a killed job leaves a record that says so.
"""
from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from contracts.status import Status

RECORD_FILE = "record.json"
SCHEMA_VERSION = 1


@dataclass
class JobContext:
    """What a task function gets besides the config: where to write, the job's W&B run (or None), its stop guard.

    ``step`` is the job's progress (steps done): an interrupted record reports it as ``step_reached``.
    """

    out_dir: Path
    record: dict[str, Any]
    wandb_run: Any = None
    guard: Any = None  # the job's signals.StopGuard (None outside the life cycle)
    step: int | None = None

    def advance(self) -> None:
        """One more step done."""
        self.step = (self.step or 0) + 1



def is_multirun() -> bool:
    """True inside a Hydra multirun job (a sweep goes on after a failed job; a single run exits 1)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def hydra_job_identity(cfg: DictConfig) -> dict[str, Any]:
    """Output dir, sweep dir and job number from Hydra's runtime config (empty outside a Hydra app)."""
    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    multirun = is_multirun()
    sweep_dir = Path(hc.sweep.dir) if multirun else None
    return {
        "out_dir": str(Path(hc.runtime.output_dir).resolve()),
        "sweep_id": sweep_dir.name if sweep_dir else None,
        "sweep_dir": str(sweep_dir.resolve()) if sweep_dir else None,
        "job_num": hc.job.num if multirun else None,
        "overrides": list(hc.overrides.task),
    }


def _config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config; as written where it does not resolve (the job then fails naming the key)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException:
        return OmegaConf.to_container(cfg, resolve=False)


def new_record(cfg: DictConfig, task: str) -> dict[str, Any]:
    """Identity and configuration of a job; environment and figures are added by the task."""
    model = cfg.get("model") or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex[:12],
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "status": Status.RUNNING,
        "error": None,
        "model": model.get("name"),
        "data": (cfg.get("data") or {}).get("name"),
        "config": _config(cfg),
        **hydra_job_identity(cfg),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, Enum):  # Status: its plain text, whatever the consumer (json, W&B, pandas)
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def record_text(record: dict[str, Any]) -> str:
    """The record as the JSON text of ``record.json`` (Status as its text, non-finite numbers as null)."""
    return json.dumps(_json_safe(record), indent=2, sort_keys=True)


def write_record(record: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``record.json`` atomically: a reader sees the old file or the new one, never half of one.

    Its mode follows the umask (0644 under 022, 0664 under 002), as every other file of a run does, so a
    cluster group reads each other's results (``tempfile.mkstemp`` would make it 0600).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORD_FILE
    tmp = out_dir / f".record-{uuid.uuid4().hex}.json"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(record_text(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def summary_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The flat, scalar part of a record (no config, no per-step lists): what a summary or table row holds."""
    return {
        k: v for k, v in _json_safe(record).items()
        if k != "config" and (v is None or isinstance(v, (str, int, float, bool)))
    }
