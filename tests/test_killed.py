"""A job killed without a word (SIGKILL) gets more than its ``killed`` record from its parent: its W&B run, left open
by the dead process, is closed with the ``killed`` status in its summary (the issue's last row)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from helpers import TEST_NET, WANDB_CLI, killed_on_exit, read_if_written, start_cli, wait_until


def _inspect(run_dir: Path) -> dict:
    out = subprocess.run([WANDB_CLI, "leet", "inspect", "--summary", "--json", str(run_dir)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


@pytest.mark.slow
def test_the_parent_closes_a_sigkilled_jobs_wandb_run_as_killed(tmp_path: Path) -> None:
    job, output = tmp_path / "job", tmp_path / "output.txt"
    proc = start_cli(*TEST_NET, "logger=wandb", "bench.steps=10000000", "bench.burn_in=1", "bench.log_every=0",
                     f"hydra.run.dir={job}", output=output)
    with killed_on_exit(proc):
        running = wait_until(lambda: (r := read_if_written(job / "record.json")) and r["status"] == "running" and r,
                             300, "the job's running record", proc)
        wait_until(lambda: list((job / "wandb").glob(f"offline-run-*-{running['run_id']}")), 120, "the job's W&B run", proc)
        os.kill(running["pid"], signal.SIGKILL)
        assert proc.wait(120) == 128 + signal.SIGKILL, output.read_text()[-2000:]
        rec = json.loads((job / "record.json").read_text())
        assert (rec["status"], rec["killed_signal"]) == ("killed", "SIGKILL")

        # the reopening's dir has the same run id; started in the same second, wandb adds "-1" to its name
        runs = sorted((job / "wandb").glob(f"offline-run-*-{rec['run_id']}*"))
        assert len(runs) == 2  # the dead child's, and the parent's reopening of the same run id
        closed = _inspect(runs[-1])
        assert closed["state"] == "failed" and closed["exit_code"] == 1
        assert closed["summary"]["status"] == "killed" and closed["summary"]["killed_signal"] == "SIGKILL"
