"""The result record: one flat JSON per job, written atomically (``tracking`` mirrors it to W&B).

One record per job is the unit everything builds on: a sweep is many records, a report is a
DataFrame of records. A record is written with status ``running`` when the job starts and
rewritten with its final status at the end, so a killed job leaves a record that says so.
"""
from __future__ import annotations

import json
import logging
import math
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from contracts.job import JobSpec
from contracts.reader import Problem, validate_record
from contracts.record import FIELDS, SCHEMA_VERSION, F, Identity
from contracts.status import Status

log = logging.getLogger(__name__)
RECORD_FILE = "record.json"


@dataclass
class JobContext:
    """What a task function gets besides the config: where to write, the job's spec, its W&B run (or None), its stop guard.

    ``step`` is the job's progress (steps done): an interrupted record reports it as ``step_reached``.
    """

    out_dir: Path
    record: dict[str, Any]
    spec: JobSpec
    wandb_run: Any = None
    guard: Any = None  # the job's signals.StopGuard (None outside the life cycle)
    step: int | None = None

    def advance(self) -> None:
        """One more step done."""
        self.step = (self.step or 0) + 1



# the record's identity fields: the job spec's fields of the same names, copied as they are
IDENTITY_FIELDS = (F.out_dir, F.sweep_id, F.sweep_dir, F.job_num, F.overrides)


def job_identity(spec: JobSpec) -> dict[str, Any]:
    """Output dir, sweep, job number and overrides of the job, from its spec."""
    identity = {name: getattr(spec, name) for name in IDENTITY_FIELDS}
    identity[F.overrides] = list(spec.overrides)  # a list, as the record holds it once written as JSON
    return identity


def _config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config; as written where it does not resolve (the job then fails naming the key)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException:
        return OmegaConf.to_container(cfg, resolve=False)


def new_record(cfg: DictConfig, task: str, spec: JobSpec | None = None) -> dict[str, Any]:
    """Identity (``Identity``; job identity from ``spec``, none without one) and configuration of a job;
    environment and figures are added by the task."""
    identity = Identity(
        schema_version=SCHEMA_VERSION,
        run_id=uuid.uuid4().hex[:12],
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        task=task,
        status=Status.RUNNING,
        error=None,
        model=(cfg.get("model") or {}).get("name"),
        data=(cfg.get("data") or {}).get("name"),
        config=_config(cfg),
        **(job_identity(spec) if spec is not None else {}),
    )
    return asdict(identity)


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


_warned: set[str] = set()  # the schema problems already said in this process


def serialise(record: dict[str, Any], path: str | Path) -> str:
    """The record as ``record.json`` holds it. A record the schema rejects (a producer's bug) is still written,
    with one warning: losing a job's figures to a type check would be worse; the report names and skips it."""
    safe = _json_safe(record)
    checked = validate_record(safe, str(path))
    if isinstance(checked, Problem) and str(checked) not in _warned:  # once, not at every heartbeat
        _warned.add(str(checked))
        log.warning("record does not match the schema (written as it is): %s", checked)
    return json.dumps(safe, indent=2, sort_keys=True)


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
            f.write(serialise(record, path))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class RecordProblem(ValueError):
    """A ``record.json`` the schema rejects; ``problem`` names the file and the field."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_record(path: str | Path, check: bool = True) -> dict[str, Any]:
    """The record at ``path`` through the schema (an older version upgraded); ``RecordProblem`` when it does not pass,
    ``ValueError`` when it is not JSON, ``OSError`` when it cannot be read. ``check=False``: the object as written
    (a parent reading its child's status must not take an ill-typed figure for a missing record)."""
    raw = json.loads(Path(path).read_text())
    if not check:
        return raw
    checked = validate_record(raw, str(path))
    if isinstance(checked, Problem):
        raise RecordProblem(checked)
    return checked.flat()


def summary_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The flat, scalar part of a record (no config, no per-step lists): what a summary or table row holds."""
    return {
        k: v for k, v in _json_safe(record).items()
        if not (k in FIELDS and FIELDS[k].nested) and (v is None or isinstance(v, (str, int, float, bool)))
    }
