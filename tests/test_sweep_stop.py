"""A joblib sweep stops like a single job: SIGTERM to its launcher or Ctrl-C to its process group stops the running
jobs (``interrupted``), records the jobs not started with their overrides, writes the report, leaves no worker
process and exits with the signal's code (the issue's first two rows)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from helpers import TEST_NET, alive, descendants, killed_on_exit, read_if_written, records, start_cli, wait_until

LONG = 10_000_000  # steps: a job that runs until it is stopped
NOT_STARTED = "not started: the sweep was stopped by {} before this job began"


def _running_long_jobs(sweep: Path) -> list[dict[str, Any]]:
    found = [read_if_written(p) for p in sweep.glob("*/record.json")]
    return [r for r in found if r and r["status"] == "running" and r["config"]["bench"]["steps"] == LONG]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_a_stopped_joblib_sweep_records_every_job_reports_and_leaves_no_process(tmp_path: Path, signum: int,
                                                                                group: bool) -> None:
    """SIGTERM to the launcher alone (``kill <pid>``, a batch system), Ctrl-C to the whole process group (a terminal)."""
    sweep, output = tmp_path / "sweep", tmp_path / "output.txt"
    proc = start_cli("-m", "hydra/launcher=local_parallel", *TEST_NET, "bench.burn_in=1", "bench.log_every=0",
                     f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}", f"bench.steps={LONG},{LONG},3,3",
                     output=output)
    with killed_on_exit(proc):
        running = wait_until(lambda: len(jobs := _running_long_jobs(sweep)) == 2 and jobs, 300, "both long jobs", proc)
        time.sleep(1)  # well inside their timed steps
        processes = descendants(proc.pid) | {r["pid"] for r in running}  # loky workers and the isolated jobs
        (os.killpg if group else os.kill)(proc.pid, signum)
        assert proc.wait(120) == 128 + signum, output.read_text()[-3000:]
        name = signal.Signals(signum).name

        jobs = sorted(records(sweep), key=lambda r: r["job_num"])
        assert [(r["job_num"], r["status"], r["signal"]) for r in jobs] == [(n, "interrupted", name) for n in range(4)]
        assert [r["error"] for r in jobs[2:]] == [NOT_STARTED.format(name)] * 2
        assert [r["overrides"][-1] for r in jobs] == [f"bench.steps={LONG}"] * 2 + ["bench.steps=3"] * 2
        assert {r["run_id"] for r in jobs[:2]} == {r["run_id"] for r in running}  # the running jobs' own records, final
        table = pd.read_csv(sweep / "report" / "summary.csv")
        assert table.sort_values("job_num")["status"].tolist() == ["interrupted"] * 4
        assert "Traceback" not in output.read_text()
        wait_until(lambda: not any(alive(p) for p in processes), 10, f"the sweep's processes {sorted(processes)} to end")
