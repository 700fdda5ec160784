"""Helpers of the training tests: compose the real configs with the tiny test net, run jobs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
TEST_CONF = ROOT / "tests" / "conf"
# tiny net, tiny data, quiet trainer
FAST = [
    f"hydra.searchpath=[file://{TEST_CONF}]", "model=tiny_test", "task=train", "logger=none",
    "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.max_epochs=1",
]
SYNTHETIC = ["data=synthetic", "data.num_classes=10", "data.input_size=16", "data.image_size=16",
             "data.train_size=64", "data.val_size=32", "data.batch_size=16"]


def make_cfg(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[*FAST, *overrides])


def run_job(out_dir: Path, *overrides: str) -> dict[str, Any]:
    from run import run_task

    return run_task(make_cfg(*overrides), out_dir)


def records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("record.json"))]
