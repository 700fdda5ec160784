"""Job isolation: run a job in a child process, so that a job killed without a word still gets a record.

The OOM killer, ``kill -9`` and a segfault end a process before it can write anything, and in a sweep
they would take the launcher's process (the basic launcher, a joblib worker) and every later job with
it. Here the job runs in a fresh ``python`` (``python -m bench.job.isolation <spec dir>``: no fork of a
process holding torch threads) that writes the normal record; the parent waits for it and, when it
died before writing a final status, writes ``killed`` with the signal or exit code and the child's peak
memory (``wait4``'s rusage). Stop signals that reach the parent are passed on to the child, which
stops cleanly (``signals``); the child's output goes to the same terminal and log file.
"""
from __future__ import annotations

import ctypes
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import configure_log
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bench.job.lifecycle import TaskFn, interrupted_fields, run_job
from bench.job.liveness import HEARTBEAT_INTERVAL_S, liveness_fields
from bench.job.record import RECORD_FILE, is_multirun, new_record, read_record
from bench.job.signals import ForwardSignals, StopSignal, stopped_by
from bench.job.storage import fallback_dir, fallback_record, write_final
from bench.job.tracking import finish_killed_wandb
from contracts.status import Status

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _hydra_node() -> dict[str, Any] | None:
    """This job's Hydra config, resolved here (``${now:...}`` in a child would be another time), for the child."""
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    try:
        node = OmegaConf.to_container(hc, resolve=True, enum_to_str=True)
    except OmegaConfBaseException:  # a key the job does not use that does not resolve: keep the job's own dirs exact
        node = OmegaConf.to_container(hc, resolve=False, enum_to_str=True)
        node["run"]["dir"], node["sweep"]["dir"] = str(hc.run.dir), str(hc.sweep.dir)
    node["callbacks"] = {}  # sweep callbacks run in the launcher, not in a job
    return node


def _write_spec(spec_dir: Path, cfg: DictConfig, out_dir: Path, task: TaskFn) -> None:
    OmegaConf.save(cfg, spec_dir / "config.yaml")  # as composed: interpolations resolve in the child
    hydra = _hydra_node()
    if hydra is not None:
        OmegaConf.save(OmegaConf.create(hydra), spec_dir / "hydra.yaml")
    job = {"task": f"{task.__module__}:{task.__qualname__}", "out_dir": str(out_dir), "parent": os.getpid()}
    (spec_dir / "job.json").write_text(json.dumps(job))


def _child_env() -> dict[str, str]:
    """The parent's import path, so the child imports the same code (the project, the configs' ``_target_``s)."""
    paths = dict.fromkeys(str(Path(p or os.getcwd()).resolve()) for p in sys.path)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if Path(p).is_dir())}


def run_isolated(cfg: DictConfig, out_dir: str | Path, task: TaskFn) -> dict[str, Any]:
    """Run ``task`` like ``run_job`` does, in a child process; returns the final record, whatever became of the child."""
    out_dir = Path(out_dir).resolve()
    with ForwardSignals() as forward:  # installed first: a signal from here on is passed on to the child
        if stopped_by() and is_multirun():  # the sweep was stopped: run_job records this job without starting it
            return run_job(cfg, out_dir, task)
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".job-spec-", dir=out_dir) as spec_dir:
            _write_spec(Path(spec_dir), cfg, out_dir, task)
            child = subprocess.Popen([sys.executable, "-m", __name__, spec_dir], env=_child_env())
            forward.attach(child.pid)
            _, wait_status, usage = os.wait4(child.pid, 0)  # retried after each forwarded signal (PEP 475)
    child.returncode = os.waitstatus_to_exitcode(wait_status)
    return _outcome(cfg, out_dir, child, usage.ru_maxrss / 1024, forward.received)


def _outcome(cfg: DictConfig, out_dir: Path, child: subprocess.Popen, peak_mb: float, stop: StopSignal | None) -> dict[str, Any]:
    """The child's final record, or the one its parent writes for it when it died before writing one."""
    try:
        record = read_record(out_dir / RECORD_FILE)
    except (OSError, ValueError):
        record = None
    if record is not None and record.get("status") != Status.RUNNING:
        return record
    kept = fallback_record(fallback_dir(cfg), record["run_id"]) if record is not None else None
    if kept is not None:  # the child's final write failed (a full disk): it kept the record there
        return read_record(kept)
    # died before its first write: the record it would have written, with its pid
    record = record or {**new_record(cfg, cfg.task), **liveness_fields(HEARTBEAT_INTERVAL_S), "pid": child.pid}
    code = child.returncode
    by = signal.Signals(-code).name if code < 0 else None
    if stop is not None and by == stop.name:  # the stop signal came before the child could handle it
        record.update(interrupted_fields(stop, None))
    else:
        how = f"killed by {by}" if by else f"exited with code {code}"
        hint = " (the kernel's OOM killer, kill -9 or a scheduler's hard kill)" if by == "SIGKILL" else ""
        record.update(status=Status.KILLED, killed_signal=by, exit_code=code, peak_memory_mb=peak_mb,
                      error=f"job process {child.pid} {how}{hint} before writing its record; peak memory {peak_mb:.0f} MB")
    write_final(record, out_dir, fallback_dir(cfg))
    finish_killed_wandb(cfg, record, out_dir)
    return record


def _stop_with_parent(parent: int) -> None:
    """Linux: get SIGTERM when the parent dies (a ``kill -9`` of the launcher), so the job stops cleanly, not orphaned."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl took effect
        sys.exit(f"job not started: its parent process {parent} is gone")


def child_main(spec_dir: str) -> None:
    """The child's side: this job's Hydra state and logging as the parent had them, then ``run_job``."""
    spec = Path(spec_dir)
    job = json.loads((spec / "job.json").read_text())
    _stop_with_parent(job["parent"])
    if (spec / "hydra.yaml").is_file():
        hydra = OmegaConf.structured(HydraConf)
        OmegaConf.set_struct(hydra, False)  # keys Hydra's own config groups add to the schema (e.g. ``env``)
        hydra = OmegaConf.merge(hydra, OmegaConf.load(spec / "hydra.yaml"))
        HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra}))
        configure_log(HydraConfig.get().job_logging, HydraConfig.get().verbose)
    cfg = OmegaConf.load(spec / "config.yaml")
    OmegaConf.set_struct(cfg, True)  # as Hydra hands it to a job
    module, name = job["task"].split(":")
    run_job(cfg, job["out_dir"], getattr(importlib.import_module(module), name))


if __name__ == "__main__":
    child_main(sys.argv[1])
    # the record is final and W&B closed: skip the interpreter's teardown (seconds of torch's on a busy CPU,
    # which a scheduler's grace time before SIGKILL would rather spend on the parent)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
