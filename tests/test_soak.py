"""Soak: a 50-job joblib sweep of tiny runs, with SIGKILLs to 10% of the jobs and one SIGTERM to the launcher midway.

Every job ends with exactly one final record (``ok``, ``killed`` or ``interrupted``), the sweep's report counts them
all, and no worker or job process is left. Bounded: the stop comes once the victims are dead and about half the jobs
have ended, so the test takes a few minutes on a 2-core machine.
"""
from __future__ import annotations

import collections
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from helpers import TEST_NET, alive, descendants, killed_on_exit, read_if_written, records, start_cli, wait_until

JOBS = 50
LONG = 10_000_000  # steps of a victim: it runs until it is killed
STOP_AFTER = 24    # final records before the launcher's SIGTERM


@pytest.mark.slow
def test_soak_a_50_job_joblib_sweep_with_kills_and_a_stop(tmp_path: Path) -> None:
    rng = random.Random(20)
    victims = set(rng.sample(range(2, 20), JOBS // 10))
    steps = [LONG if n in victims else 3 for n in range(JOBS)]
    sweep, output = tmp_path / "sweep", tmp_path / "output.txt"
    started = time.monotonic()
    proc = start_cli("-m", "hydra/launcher=local_parallel", *TEST_NET, "bench.burn_in=1", "bench.log_every=0",
                     f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}",
                     "bench.steps=" + ",".join(map(str, steps)), output=output)
    with killed_on_exit(proc):
        killed: set[int] = set()
        processes: set[int] = set()

        def finals() -> dict[int, dict[str, Any]]:
            found = {}
            for path in sweep.glob("*/record.json"):
                rec = read_if_written(path)
                if rec and rec["status"] != "running":
                    found[rec["job_num"]] = rec
                elif rec and rec["job_num"] in victims and rec["job_num"] not in killed:
                    os.kill(rec["pid"], signal.SIGKILL)  # the job's own (isolated) process, as the OOM killer would
                    killed.add(rec["job_num"])
            return found

        def ready_to_stop() -> bool:
            processes.update(descendants(proc.pid))
            done = finals()  # kills the victims it finds running
            return killed == victims and len(done) >= STOP_AFTER

        wait_until(ready_to_stop, 1200, f"the victims {sorted(victims)} killed and {STOP_AFTER} final records", proc)
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(300)
        wall = time.monotonic() - started
        assert code == 128 + signal.SIGTERM, output.read_text()[-3000:]

        jobs = records(sweep)
        by_num = collections.Counter(r["job_num"] for r in jobs)
        assert sorted(by_num) == list(range(JOBS)) and set(by_num.values()) == {1}  # exactly one record per job
        assert not list(sweep.rglob(".record-*")) and not list(sweep.rglob(".job-spec-*"))
        statuses = collections.Counter(r["status"] for r in jobs)
        assert {r["job_num"] for r in jobs if r["status"] == "killed"} == victims
        assert set(statuses) <= {"ok", "killed", "interrupted"}, statuses  # every record final
        for rec in jobs:
            assert rec["overrides"][-1] == f"bench.steps={steps[rec['job_num']]}"
            if rec["status"] == "ok":
                assert len(rec["step_times_s"]) == 3 and rec["mean_s"] > 0  # the measurement itself, intact
        assert statuses["ok"] >= STOP_AFTER - len(victims)
        table = pd.read_csv(sweep / "report" / "summary.csv")
        assert len(table) == JOBS and collections.Counter(table["status"]) == statuses
        wait_until(lambda: not any(alive(p) for p in processes), 10, "every worker and job process to end")
        print(f"\nsoak: {JOBS} jobs, {len(killed)} SIGKILLed, 1 SIGTERM to the launcher; {len(jobs)} final records "
              f"({dict(statuses)}); {len(processes)} processes seen, {sum(alive(p) for p in processes)} left; "
              f"wall {wall:.0f} s")

