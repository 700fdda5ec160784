"""Where records go, checked before any work and kept when the disk fails at the end.

- ``OutputDirCheck`` (a Hydra callback, ``hydra.callbacks.output_dirs``) runs before Hydra creates the run
  or sweep dir: a dir that cannot be written (read-only, no permission, a full disk) ends the run with one
  line naming the dir and the reason; a dir that already holds records is refused, or with
  ``paths.on_existing=new`` replaced by a fresh one beside it (``<dir>-1``, ``<dir>-2``, ...).
- ``write_final`` writes a job's final record; when that fails (``ENOSPC``, ``EROFS``, ...) the measurement
  is kept: printed on stdout as one JSON line (``{"unwritten_record": {...}}``) and written under
  ``paths.fallback_dir/<run_id>/``, with ``write_error`` naming the cause.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from bench.job.record import RECORD_FILE, serialise, write_record
from contracts.errors import check_choice
from contracts.record import F, Storage

log = logging.getLogger(__name__)
ON_EXISTING = ("refuse", "new")
MIN_FREE_BYTES = 1 << 20  # a run writes its record, its .hydra/ config and its log: refuse to start with less free
PROBE_BYTES = 64 << 10
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})  # the disk failed, not the task


def os_cause(exc: OSError) -> str:
    """``ENOSPC (No space left on device)``: the errno's name first, the one a user searches for."""
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return f"{name} ({exc.strerror or exc})"


def unwritable(path: Path) -> str | None:
    """Why ``path`` cannot take a run's files (created if missing, probed with a real write), or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        try:
            with probe.open("wb") as f:
                f.write(b"\0" * PROBE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        finally:
            probe.unlink(missing_ok=True)
        stat = os.statvfs(path)
    except OSError as exc:
        return os_cause(exc)
    free = stat.f_bavail * stat.f_frsize
    if free < MIN_FREE_BYTES:
        return f"ENOSPC (only {free >> 10} KiB free; a run needs at least {MIN_FREE_BYTES >> 20} MiB)"
    return None


def held_records(path: Path) -> list[Path]:
    return sorted(path.rglob(RECORD_FILE)) if path.is_dir() else []


def fresh_dir(path: Path) -> Path:
    """``<dir>-1``, ``<dir>-2``, ...: the first one that holds no record."""
    n = 1
    while held_records(path.with_name(f"{path.name}-{n}")):
        n += 1
    return path.with_name(f"{path.name}-{n}")


def _fail(message: str) -> None:
    raise SystemExit(f"error: {message}")  # one line on stderr, exit 1; Hydra has not written anything yet


def _resuming(config: DictConfig) -> bool:
    """A training job resumed in its own dir (``ckpt_path=...``) rewrites its record there: that is no reuse."""
    return config.get(F.task) == "train" and bool(config.get("ckpt_path"))


def _secondary_rank() -> bool:
    """This process is rank > 0 of a distributed job (the variables Lightning's launcher, torchrun or srun set)."""
    return any(int(os.environ.get(name) or 0) > 0 for name in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


class OutputDirCheck(Callback):
    """Before a run or a sweep starts: its dir must be writable, and must not already hold another run's records."""

    def __init__(self, on_existing: str = "refuse") -> None:
        self.on_existing = on_existing

    def _checked(self, config: DictConfig, key: str, what: str) -> None:
        try:
            check_choice("paths.on_existing", self.on_existing, ON_EXISTING)
        except ValueError as exc:
            _fail(str(exc))
        node = config.hydra.run if key == "run" else config.hydra.sweep
        path = Path(str(node.dir))
        # a resumed training run writes on in its own dir; so does a distributed job's rank > 0 (Lightning's
        # relaunch or srun start it in rank 0's dir, which holds rank 0's running record)
        held = [] if key == "run" and (_resuming(config) or _secondary_rank()) else held_records(path)
        if held and self.on_existing == "refuse":
            _fail(f"{what} {path} already holds {len(held)} record(s) ({held[0]}); give another hydra.{key}.dir, "
                  f"or paths.on_existing=new to write into a fresh dir beside it")
        if held:
            path = fresh_dir(path)
            log.warning("%s already holds records: writing into %s", node.dir, path)
            with read_write(config.hydra), open_dict(config.hydra):
                node.dir = str(path)
                # a sweep's jobs recompose their config from these overrides: the fresh dir must be in them
                config.hydra.overrides.hydra = [o for o in config.hydra.overrides.hydra
                                                if not o.startswith(f"hydra.{key}.dir=")] + [f"hydra.{key}.dir={path}"]
        problem = unwritable(path)
        if problem is not None:
            _fail(f"cannot write the results dir {path}: {problem}; set paths.results_dir (or hydra.{key}.dir) "
                  f"to a writable dir")

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._checked(config, "run", "the run dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._checked(config, "sweep", "the sweep dir")


def write_final(record: dict[str, Any], out_dir: str | Path, fallback_dir: str | Path | None) -> Path | None:
    """Write the final record in ``out_dir``; if that fails, keep it (stdout, ``fallback_dir``) and say where.

    Returns the path written, or None when only the stdout line holds it.
    """
    target = Path(out_dir) / RECORD_FILE
    try:
        return write_record(record, out_dir)
    except OSError as exc:
        cause = os_cause(exc)
    fields = Storage(write_error=f"{cause} writing {target}")
    fallback = Path(fallback_dir).expanduser() / str(record.get(F.run_id)) if fallback_dir else None
    written: Path | None = None
    if fallback is not None:
        fields.record_fallback = str(fallback)
        record.update(asdict(fields))
        try:
            written = write_record(record, fallback)
        except OSError as exc:
            log.error("the fallback dir %s cannot take the record either: %s", fallback, os_cause(exc))
            record[F.record_fallback] = None
    else:
        record.update(asdict(fields))
    # the measurement, whatever else fails: one JSON line a user can cut out (jq .unwritten_record)
    sys.stdout.write(json.dumps({"unwritten_record": json.loads(serialise(record, '<stdout>'))}) + "\n")
    sys.stdout.flush()
    where = f"written to {written} instead" if written else "not written anywhere"
    log.error("the final record could not be written to %s: %s; %s, and printed on stdout as one JSON line "
              "(unwritten_record)", target, cause, where)
    return written


def fallback_dir(cfg: DictConfig) -> str | None:
    """``paths.fallback_dir``: where a final record goes when its own dir cannot take it (None: stdout only)."""
    return (cfg.get("paths") or {}).get("fallback_dir") or None


def fallback_record(fallback_dir: str | Path | None, run_id: str) -> Path | None:
    """Where ``write_final`` put the record of ``run_id`` when its own dir failed, if it did."""
    if not fallback_dir:
        return None
    path = Path(fallback_dir).expanduser() / run_id / RECORD_FILE
    return path if path.is_file() else None
