"""Every file a user names is loaded weights-only: a pickle that would run code is refused in one line and never runs.

The test pickle creates a marker file when unpickled; the marker must not exist after any entry point saw it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir

from helpers import CONF_DIR, SYNTHETIC_DATA, run_train_job
from run import run_task


class WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: the marker appears if and only if the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return open, (self.marker, "w")


def code_running_checkpoint(path: Path, marker: Path) -> Path:
    """Shaped like a Lightning checkpoint, with one object whose unpickling runs code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"w": torch.zeros(1)}, "epoch": 0, "hyper_parameters": WritesMarker(marker)}, path)
    return path


def test_the_test_pickle_does_run_code_when_loaded_unsafely(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    torch.load(code_running_checkpoint(tmp_path / "evil.ckpt", marker), weights_only=False)
    assert marker.exists()  # so the tests below would see it run


def _model_weights_eval(tmp_path: Path, evil: Path) -> dict[str, Any]:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["task=eval", "model=googlenet", f"model.weights={evil}", "logger=none",
                                           *SYNTHETIC_DATA])
    return run_task(cfg, tmp_path / "job")


ENTRY_POINTS = {
    "eval ckpt_path": lambda tmp, evil: run_train_job(tmp / "job", *SYNTHETIC_DATA, "task=eval", f"ckpt_path={evil}"),
    "train resume ckpt_path": lambda tmp, evil: run_train_job(tmp / "job", *SYNTHETIC_DATA, f"ckpt_path={evil}"),
    "train resume ckpt_path=last": lambda tmp, evil: run_train_job(tmp / "job", *SYNTHETIC_DATA, "ckpt_path=last"),
    "model.weights": _model_weights_eval,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_code_running_checkpoint_is_refused_in_one_line_and_never_runs(tmp_path: Path, entry: str) -> None:
    marker = tmp_path / "marker"
    where = tmp_path / "job" / "checkpoints" / "last.ckpt" if entry.endswith("=last") else tmp_path / "evil.ckpt"
    evil = code_running_checkpoint(where, marker)
    rec = ENTRY_POINTS[entry](tmp_path, evil)
    assert rec["status"] == "error" and str(evil) in rec["error"] and "\n" not in rec["error"], rec["error"]
    assert "weights-only" in rec["error"]
    assert not marker.exists()
