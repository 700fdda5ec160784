"""Jobs on a real SLURM cluster (tools/slurm/cluster.sh), submitted as a user would: `-m hydra/launcher=slurm_cpu`.

A benchmark sweep with one job `scancel`ed mid-run, and a 2-task DDP training job (Lightning's SLURM
environment, srun, gloo). The cluster is used if it is up, started if this machine can (root, packages
installed) and stopped again afterwards; otherwise the tests skip saying why — except under CI=true, where
they fail: CI starts the cluster (.ci/run) and these tests must run there.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest

from contracts.status import Status
from helpers import REPO, SYNTHETIC_DATA, TEST_NET, TINY_BENCH, TINY_TRAIN, records, run_cli

CLUSTER = REPO / "tools" / "slurm" / "cluster.sh"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
LAUNCH = ("-m", "hydra/launcher=slurm_cpu")
SWEEP_TIMEOUT_S = 300  # whole sweeps: each job imports torch on a shared 2-core machine
T = TypeVar("T")
pytestmark = pytest.mark.slow  # a few minutes on 2 cores: every job is a fresh Python importing torch


def _cluster_ready() -> bool:
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s in ("idle", "mix", "alloc") for s in states)


def _cannot_start() -> str | None:
    """Why this machine cannot start the local cluster, or None if it can."""
    if shutil.which("slurmctld") is None:
        return "SLURM is not installed: `sudo tools/slurm/cluster.sh up` installs and starts a one-node cluster"
    if os.geteuid() != 0:
        return "the SLURM cluster is not running and starting it needs root: `sudo tools/slurm/cluster.sh up`"
    return None


@pytest.fixture(scope="module")
def slurm() -> Iterator[None]:
    """A SLURM cluster that takes jobs: the running one, or the local one started (and stopped) here."""
    started = False
    if not _cluster_ready():
        reason = _cannot_start()
        if reason is None:
            proc = subprocess.run(["bash", str(CLUSTER), "up"], capture_output=True, text=True, timeout=300)
            started = proc.returncode == 0
            reason = None if started else f"tools/slurm/cluster.sh up failed: {(proc.stdout + proc.stderr)[-2000:]}"
        if reason is not None:
            if IN_CI:
                pytest.fail(f"CI must run the SLURM tests, but {reason}")
            pytest.skip(reason)
    yield
    if started:
        subprocess.run(["bash", str(CLUSTER), "down"], capture_output=True, timeout=300)


def wait_for(probe: Callable[[], T | None], seconds: float, what: str) -> T:
    """Poll ``probe`` every 0.5 s until it returns something; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not written yet (records are replaced atomically, never half-written)
        return None


def slurm_job_ids(sweep: Path) -> dict[int, str]:
    """The SLURM id of each job of a sweep: submitit names its folder `<array id>_<job index>`."""
    return {int(p.name.split("_")[1]): p.name for p in (sweep / ".submitit").glob("*_*") if p.is_dir()}


def sacct_state(job_id: str) -> str:
    """SLURM's accounting state of a job or array task; a task that never left the queue has no line of its own,
    only its array's pending range (``28_[2%2]``), whose state is then its state."""
    array = job_id.split("_")[0]
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", array],
                         capture_output=True, text=True, timeout=30).stdout
    states = dict(line.split("|", 1) for line in out.strip().splitlines() if "|" in line)
    pending = [state for key, state in states.items() if key.startswith(f"{array}_[")]
    return states.get(job_id) or (pending[-1] if "_" in job_id and pending else "")


def start_sweep(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python run.py ARGS`` in the background (as ``run_cli`` runs it), its output to ``log``."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, str(REPO / "run.py"), *args], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def test_scancel_mid_run_records_interrupted_and_the_sweep_still_reports(slurm: None, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    # jobs 0 and 1 take a few steps; job 2 would run for hours unless cancelled
    log = tmp_path / "launcher.log"
    proc = start_sweep(log, *LAUNCH, *TEST_NET, *TINY_BENCH, "bench.steps=3,4,100000000", "bench.log_every=10",
                       f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}")
    try:
        record_2 = sweep / "2_benchmark_tiny_test" / "record.json"

        def job_2_running() -> bool | None:
            assert proc.poll() is None, f"the sweep ended before job 2 ran:\n{log.read_text()[-4000:]}"
            return (read_json(record_2) or {}).get("status") == Status.RUNNING or None

        wait_for(job_2_running, 240, "job 2 to start")
        cancelled = wait_for(lambda: slurm_job_ids(sweep).get(2), 30, "job 2's submitit folder")
        job_2_log = sweep / ".submitit" / cancelled
        wait_for(lambda: any(": step 10, duration = " in p.read_text() for p in job_2_log.glob("*_log.out")) or None,
                 120, "job 2's timed step 10")  # well inside the timed steps: they print a line every 10
        subprocess.run(["scancel", cancelled], check=True, timeout=30)
        proc.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:  # a failed wait: leave no launcher and no job behind
            proc.kill()
            proc.wait()
            for job_id in slurm_job_ids(sweep).values():
                subprocess.run(["scancel", job_id], timeout=30)
    assert proc.returncode == 0, log.read_text()[-4000:]
    assert sacct_state(cancelled).startswith("CANCELLED")  # SLURM's view: a real scancel
    jobs = {r["job_num"]: r for r in records(sweep)}
    expected = {0: Status.OK, 1: Status.OK, 2: Status.INTERRUPTED}
    assert {n: r["status"] for n, r in jobs.items()} == expected
    assert jobs[2]["signal"] == "SIGTERM" and 1 + 10 < jobs[2]["step_reached"] < 1 + 100_000_000  # in the timed steps
    table = pd.read_csv(sweep / "report" / "summary.csv")  # the end-of-sweep report, made despite the cancel
    assert table.set_index("job_num")["status"].to_dict() == expected


def test_two_task_training_job_writes_one_record(slurm: None, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(*LAUNCH, "hydra.launcher.tasks_per_node=2", *TEST_NET, *TINY_TRAIN, *SYNTHETIC_DATA,
                   "trainer=slurm", "trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.sync_batchnorm=false",
                   f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}", timeout=SWEEP_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (record,) = records(tmp_path)  # rank 1 trained too, but only rank 0 writes
    assert (record["status"], record["task"], record["device_count"]) == (Status.OK, "train", 2)
    # two srun tasks, each a rank of Lightning's SLURM environment (not one process spawning another)
    logs = "".join(p.read_text() for p in (sweep / ".submitit").glob("*/*_log.*"))
    assert sorted(set(re.findall(r"GLOBAL_RANK: (\d), MEMBER: \d/2", logs))) == ["0", "1"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_submitting_process_cancels_the_array_records_every_job_and_reports(
        slurm: None, tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM to the shell's `python run.py -m` (not to the jobs): the array is scancelled, the running
    tasks record ``interrupted``, the task never started is recorded here, the report is written, exit 128 + n."""
    sweep, log = tmp_path / "sweep", tmp_path / "launcher.log"
    long = 100000000
    proc = start_sweep(log, *LAUNCH, "hydra.launcher.array_parallelism=2", *TEST_NET, *TINY_BENCH,
                       f"bench.steps={long},{long},3", f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}")
    try:
        def both_running() -> bool | None:
            assert proc.poll() is None, f"the sweep ended early:\n{log.read_text()[-4000:]}"
            found = [read_json(sweep / f"{n}_benchmark_tiny_test" / "record.json") or {} for n in (0, 1)]
            return all(r.get("status") == Status.RUNNING for r in found) or None

        wait_for(both_running, 240, "jobs 0 and 1 to run")
        proc.send_signal(signum)
        proc.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for job_id in slurm_job_ids(sweep).values():
            subprocess.run(["scancel", job_id], timeout=30)
    assert proc.returncode == 128 + signum, log.read_text()[-4000:]
    ids = slurm_job_ids(sweep).values()
    # SLURM's view (a real scancel of the array), once its accounting has it: slurmdbd records states a moment late
    wait_for(lambda: all(sacct_state(j).startswith("CANCELLED") for j in ids) or None, 60,
             f"sacct to say CANCELLED for jobs {list(ids)}")
    jobs = {r["job_num"]: r for r in records(sweep)}
    assert {n: r["status"] for n, r in jobs.items()} == {0: Status.INTERRUPTED, 1: Status.INTERRUPTED, 2: Status.INTERRUPTED}
    assert jobs[0]["signal"] == jobs[1]["signal"] == "SIGTERM"  # what scancel sends the running tasks
    assert jobs[2]["error"] == f"not started: the sweep was stopped by {signal.Signals(signum).name} before this job began"
    table = pd.read_csv(sweep / "report" / "summary.csv")
    assert sorted(table["job_num"]) == [0, 1, 2]
