"""W&B: an offline run per job, created without network, holding the record, readable back offline."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from run import run_task
from helpers import GOOGLENET_RUN as TINY_RUN, WANDB_CLI


def test_offline_run_is_created_and_readable_without_network(compose_cfg, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE")  # the config alone must keep W&B offline
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # any network attempt would fail, not hang
    started = time.monotonic()
    record = run_task(compose_cfg(*TINY_RUN[:-1], "logger=wandb"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert time.monotonic() - started < 60
    (run_dir,) = (tmp_path / "wandb").glob(f"offline-run-*-{record['run_id']}")
    inspected = subprocess.run([WANDB_CLI, "leet", "inspect", "--summary", "--json", str(run_dir)],
                               capture_output=True, text=True, timeout=60, check=True)
    run = json.loads(inspected.stdout)
    assert run["state"] == "finished" and run["run_id"] == record["run_id"]
    assert run["summary"]["mean_s"] == pytest.approx(record["mean_s"])
    assert run["summary"]["status"] == "ok" and run["summary"]["record"]["nrows"] == 1
    assert run["config"]["bench"]["batch_size"] == 2


def test_logger_none_creates_no_run(compose_cfg, tmp_path: Path) -> None:
    assert run_task(compose_cfg(*TINY_RUN), tmp_path)["status"] == "ok"
    assert not (tmp_path / "wandb").exists()
