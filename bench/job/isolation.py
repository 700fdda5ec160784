"""Job isolation: run a job in a child process, so that a job killed without a word still gets a record.

The OOM killer, ``kill -9`` and a segfault end a process before it can write anything, and in a sweep
they would take the launcher's process (the basic launcher, a joblib worker) and every later job with
it. Here the job runs in a fresh ``python`` (``python -m bench.job.isolation <spec dir>``: no fork of a
process holding torch threads) that gets the job's config and its ``JobSpec`` (``job_spec.json``, beside the
record: the job's identity, and its logging configured as Hydra configures a job's) and writes the normal record; the parent waits for it and, when it
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

from hydra.core.utils import configure_log
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bench.job.lifecycle import TaskFn, interrupted_fields, run_job
from bench.job.liveness import HEARTBEAT_INTERVAL_S, liveness_fields
from bench.job.record import RECORD_FILE, new_record, read_record
from bench.job.signals import ForwardSignals, StopSignal, stopped_by
from bench.job.storage import fallback_dir, fallback_record, write_final
from bench.job.tracking import finish_killed_wandb
from contracts.job import SPEC_FILE, JobSpec
from contracts.status import Status
from contracts.record import F

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _write_spec(spec_dir: Path, cfg: DictConfig, spec: JobSpec, task: TaskFn) -> None:
    """The child's inputs: the config, the task, the job spec (beside the record)."""
    try:  # resolved here, where ``${hydra:...}`` resolves (the child has no Hydra state) and ``${now:...}`` is this job's
        OmegaConf.save(cfg, spec_dir / "config.yaml", resolve=True)
    except OmegaConfBaseException:  # as composed: the child's run_job fails naming the key, as an in-process job would
        OmegaConf.save(cfg, spec_dir / "config.yaml")
    spec.child().write(Path(spec.out_dir) / SPEC_FILE)
    job = {"task": f"{task.__module__}:{task.__qualname__}", "out_dir": spec.out_dir, "parent": os.getpid()}
    (spec_dir / "job.json").write_text(json.dumps(job))


def _child_env() -> dict[str, str]:
    """The parent's import path, so the child imports the same code (the project, the configs' ``_target_``s)."""
    paths = dict.fromkeys(str(Path(p or os.getcwd()).resolve()) for p in sys.path)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if Path(p).is_dir())}


def run_isolated(cfg: DictConfig, spec: JobSpec, task: TaskFn) -> dict[str, Any]:
    """Run ``task`` like ``run_job`` does, in a child process; returns the final record, whatever became of the child."""
    out_dir = Path(spec.out_dir)
    with ForwardSignals() as forward:  # installed first: a signal from here on is passed on to the child
        if stopped_by() and spec.multirun:  # the sweep was stopped: run_job records this job without starting it
            return run_job(cfg, spec, task)
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".job-spec-", dir=out_dir) as spec_dir:
            _write_spec(Path(spec_dir), cfg, spec, task)
            child = subprocess.Popen([sys.executable, "-m", __name__, spec_dir], env=_child_env())
            forward.attach(child.pid)
            _, wait_status, usage = os.wait4(child.pid, 0)  # retried after each forwarded signal (PEP 475)
    child.returncode = os.waitstatus_to_exitcode(wait_status)
    return _outcome(cfg, spec, child, usage.ru_maxrss / 1024, forward.received)


def _outcome(cfg: DictConfig, spec: JobSpec, child: subprocess.Popen, peak_mb: float, stop: StopSignal | None) -> dict[str, Any]:
    """The child's final record, or the one its parent writes for it when it died before writing one."""
    out_dir = Path(spec.out_dir)
    try:
        record = read_record(out_dir / RECORD_FILE, check=False)
    except (OSError, ValueError):
        record = None
    if record is not None and record.get(F.status) != Status.RUNNING:
        return record
    kept = fallback_record(fallback_dir(cfg), record[F.run_id]) if record is not None else None
    if kept is not None:  # the child's final write failed (a full disk): it kept the record there
        return read_record(kept)
    # died before its first write: the record it would have written, with its pid
    record = record or {**new_record(cfg, cfg.task, spec), **liveness_fields(HEARTBEAT_INTERVAL_S), F.pid: child.pid}
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


def configure_job_logging(spec: JobSpec) -> None:
    """The job's logging as Hydra sets it up for a job (its handlers, its ``<job name>.log``, ``hydra.verbose``)."""
    if spec.job_logging is None:  # not a Hydra job: the caller's logging stays as it is
        return
    verbose = OmegaConf.create(spec.verbose) if isinstance(spec.verbose, list) else spec.verbose
    configure_log(OmegaConf.create(spec.job_logging), verbose)


def child_main(spec_dir: str) -> None:
    """The child's side: the job's spec and its logging as the parent had them, then ``run_job``."""
    inputs = Path(spec_dir)
    job = json.loads((inputs / "job.json").read_text())
    _stop_with_parent(job["parent"])
    spec = JobSpec.read(Path(job["out_dir"]) / SPEC_FILE)
    configure_job_logging(spec)
    cfg = OmegaConf.load(inputs / "config.yaml")
    OmegaConf.set_struct(cfg, True)  # as Hydra hands it to a job
    module, name = job["task"].split(":")
    run_job(cfg, spec, getattr(importlib.import_module(module), name))


if __name__ == "__main__":
    child_main(sys.argv[1])
    # the record is final and W&B closed: skip the interpreter's teardown (seconds of torch's on a busy CPU,
    # which a scheduler's grace time before SIGKILL would rather spend on the parent)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
