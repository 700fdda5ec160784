"""What the tests share: paths, the CLI runner, the tiny-run overrides, job runners and fake records.

Test modules import from here (never from each other); fixtures live in ``conftest.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bench.job.record import write_record

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = str(REPO / "conf")
TEST_CONF = REPO / "tests" / "conf"
WANDB_CLI = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))

# The one set of tiny-run overrides: the test-only net (tests/tiny_net.py, jobs of a few milliseconds),
# a few benchmark steps, a one-epoch CPU training on a small synthetic set.
TEST_NET = [f"hydra.searchpath=[file://{TEST_CONF}]", "model=tiny_test", "logger=none"]
TINY_BENCH = ["bench.steps=3", "bench.burn_in=1", "bench.log_every=0"]
TINY_TRAIN = ["task=train", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.max_epochs=1"]
# GoogLeNet, the default model, at its smallest input: a real-model benchmark job of a few seconds
GOOGLENET_RUN = ("model=googlenet", "bench.batch_size=2", "bench.input_size=31", *TINY_BENCH, "logger=none")
SYNTHETIC_DATA = ["data=synthetic", "data.num_classes=10", "data.input_size=16", "data.image_size=16",
                  "data.train_size=64", "data.val_size=32", "data.batch_size=16"]


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python run.py ARGS`` as a user would, with W&B forced offline."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(REPO / "run.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def make_train_cfg(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[*TEST_NET, *TINY_TRAIN, *overrides])


def run_train_job(out_dir: Path, *overrides: str) -> dict[str, Any]:
    """A training (or, with ``task=eval``, evaluation) job of the test net, in-process."""
    from run import run_task

    return run_task(make_train_cfg(*overrides), out_dir)


def records(root: Path) -> list[dict[str, Any]]:
    """Every record under ``root``, parsed (a half-written record would fail here)."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("record.json"))]


def fake_record(**fields: Any) -> dict[str, Any]:
    """A record shaped like the harness's, for report and dashboard tests that need no benchmark run."""
    record = {
        "schema_version": 1, "run_id": uuid.uuid4().hex[:12], "timestamp": "2025-01-01T00:00:00+00:00",
        "task": "benchmark", "status": "ok", "error": None, "model": "googlenet", "data": "synthetic",
        "config": {"model": {"name": fields.get("model", "googlenet")}}, "sweep_id": None, "job_num": None,
        "overrides": [], "device_name": "Test CPU", "device_count": 1, "device_type": "cpu",
        "mode": "forward", "batch_size": 2, "input_size": 64, "precision": "fp32", "memory_format": "contiguous",
        "compile": "off", "mean_s": 0.01, "std_s": 0.001, "images_per_s": 200.0, "step_times_s": [0.009, 0.01, 0.011],
        "gmacs_per_image": 1.5, "params": 6_600_000,
    }
    return {**record, **fields}


def write_fake(root: Path, name: str, **fields: Any) -> dict[str, Any]:
    record = fake_record(**fields)
    write_record(record, root / name)
    return record
