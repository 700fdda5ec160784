"""Job isolation and liveness: a job killed without a word (SIGKILL, a segfault) gets a ``killed`` record from its
parent, every other job of the sweep still runs, and the sweep's report is written; records say host, pid and a
heartbeat while they run."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.job.lifecycle import run_job
from bench.job.record import JobContext, read_record
from contracts.job import JobSpec
from helpers import TEST_NET, TINY_BENCH, read_if_written, records, start_cli, wait_until

LONG = 10_000_000  # steps: a job that runs until it is killed


def _kill_when_running(proc: Any, root: Path, signum: int) -> dict[str, Any]:
    """Wait for the long job's record (written by the job's own process), kill that process with ``signum``."""
    def long_job() -> dict[str, Any] | None:
        for path in root.rglob("record.json"):
            rec = read_if_written(path)
            if rec and rec["config"]["bench"]["steps"] == LONG and rec["status"] == "running":
                return rec
        return None

    rec = wait_until(long_job, 240, "the long job's running record", proc)
    os.kill(rec["pid"], signum)  # a real kill of the job's process, as the OOM killer would
    return rec


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["sequential", "local_parallel"])
def test_a_sigkilled_job_is_recorded_killed_and_the_sweep_goes_on_to_its_report(tmp_path: Path, launcher: str) -> None:
    """The issue's reproducer, with the test net: one of four jobs SIGKILLed, with the basic and the joblib launcher."""
    output = tmp_path / "output.txt"
    proc = start_cli("-m", f"hydra/launcher={launcher}", *TEST_NET, *TINY_BENCH, f"paths.results_dir={tmp_path}",
                     f"bench.steps=3,3,{LONG},3", output=output)
    victim = _kill_when_running(proc, tmp_path, signal.SIGKILL)
    assert proc.wait(300) == 0, output.read_text()[-3000:]  # the sweep ran to its end

    jobs = sorted(records(tmp_path / "multirun"), key=lambda r: r["job_num"])
    assert [r["status"] for r in jobs] == ["ok", "ok", "killed", "ok"], [r["error"] for r in jobs]
    killed = jobs[2]
    assert killed["run_id"] == victim["run_id"] and killed["pid"] == victim["pid"]  # the child's own record, completed
    assert (killed["killed_signal"], killed["exit_code"]) == ("SIGKILL", -signal.SIGKILL)
    assert killed["peak_memory_mb"] > 10 and "SIGKILL" in killed["error"]
    (sweep,) = tmp_path.glob("multirun/*/*")
    table = pd.read_csv(sweep / "report" / "summary.csv")  # on_multirun_end ran: no job failed the launcher
    assert table.sort_values("job_num")["status"].tolist() == ["ok", "ok", "killed", "ok"]


@pytest.mark.slow
def test_a_segfault_is_recorded_killed_with_its_signal_and_exit_code(tmp_path: Path) -> None:
    job, output = tmp_path / "job", tmp_path / "output.txt"
    proc = start_cli(*TEST_NET, *TINY_BENCH, f"bench.steps={LONG}", f"hydra.run.dir={job}", output=output)
    _kill_when_running(proc, job, signal.SIGSEGV)
    assert proc.wait(120) == 128 + signal.SIGSEGV, output.read_text()[-2000:]
    rec = read_record(job / "record.json")
    assert (rec["status"], rec["killed_signal"], rec["exit_code"]) == ("killed", "SIGSEGV", -signal.SIGSEGV)


def test_a_running_record_says_where_it_runs_and_beats(compose_cfg, tmp_path: Path) -> None:
    """The liveness fields, and ``heartbeat_at`` rewritten on disk while the task runs."""
    def task(cfg: Any, ctx: JobContext) -> dict[str, Any]:
        first = read_record(ctx.out_dir / "record.json")
        later = wait_until(lambda: (r := read_record(ctx.out_dir / "record.json"))["heartbeat_at"] > first["heartbeat_at"]
                           and r, 10, "a heartbeat")
        return {"seen": [first, later]}

    started = time.time()
    rec = run_job(compose_cfg("task=benchmark", "heartbeat_interval_s=0.2"), JobSpec.for_dir(tmp_path), task)
    first, later = rec["seen"]
    assert rec["status"] == "ok" and first["status"] == later["status"] == "running"
    assert (first["host"], first["pid"], first["heartbeat_interval_s"]) == (socket.gethostname(), os.getpid(), 0.2)
    assert started <= first["started_at"] <= first["heartbeat_at"] < later["heartbeat_at"] <= time.time()
    # the heartbeat thread is joined before the final write: no late beat can put `running` back over it
    assert not [t for t in threading.enumerate() if t.name == "record-heartbeat"]
    final = json.loads((tmp_path / "record.json").read_text())
    assert final["status"] == "ok" and final["started_at"] == first["started_at"]


@pytest.mark.parametrize("interval", ["0", "-1", "soon"])
def test_a_bad_heartbeat_interval_is_one_line(compose_cfg, tmp_path: Path, interval: str) -> None:
    rec = run_job(compose_cfg("task=benchmark", f"heartbeat_interval_s={interval}"), JobSpec.for_dir(tmp_path),
                  lambda cfg, ctx: {})
    assert rec["status"] == "error" and rec["error"].startswith("heartbeat_interval_s must be a positive number")
