"""What the tests share: paths, the CLI runner, the tiny-run overrides, job runners and fake records.

Test modules import from here (never from each other); fixtures live in ``conftest.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

import contracts.config  # noqa: F401  (registers the config schemas before any composition)
from bench.job.record import write_record
from contracts.record import SCHEMA_VERSION, BenchSetup, Cost, Environment, F, Identity, Timing
from contracts.status import Status

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


CLI_ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python run.py ARGS`` as a user would, with W&B forced offline."""
    return subprocess.run(
        [sys.executable, str(REPO / "run.py"), *args], cwd=cwd, env={**os.environ, **CLI_ENV}, capture_output=True,
        text=True, timeout=timeout,
    )


def start_cli(*args: str, output: Path) -> subprocess.Popen[bytes]:
    """``python run.py ARGS`` in the background, in a session of its own (``os.killpg`` reaches it and its children
    only, as a terminal's Ctrl-C or SLURM reach a job); stdout and stderr, unbuffered, go to ``output``."""
    with output.open("wb") as sink:
        return subprocess.Popen([sys.executable, str(REPO / "run.py"), *args], cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, **CLI_ENV, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen | None = None) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail naming ``what`` after ``timeout`` s
    or when ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert proc is None or proc.poll() is None, f"the process ended (code {proc.returncode}) before {what}"
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def read_if_written(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None before its first write (writes are atomic: never half a file)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


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
    """A record shaped like the harness's, built from the schema's dataclasses (``contracts.record``), for report and
    dashboard tests that need no benchmark run; ``fields`` override (or break) any of it."""
    model = fields.get(F.model, "googlenet")
    parts = (
        Identity(schema_version=SCHEMA_VERSION, run_id=uuid.uuid4().hex[:12], timestamp="2025-01-01T00:00:00+00:00",
                 task="benchmark", status=Status.OK.value, model=model, data="synthetic",
                 config={"model": {"name": model}}, overrides=[]),
        Environment(device_name="Test CPU", device_count=1, device_type="cpu"),
        BenchSetup(mode="forward", batch_size=2, input_size=64, precision="fp32", memory_format="contiguous",
                   compile="off"),
        Timing(mean_s=0.01, std_s=0.001, images_per_s=200.0, step_times_s=[0.009, 0.01, 0.011]),
        Cost(gmacs_per_image=1.5, params=6_600_000),
    )
    record = {k: v for p in parts for k, v in asdict(p).items() if v is not None}
    return {**record, F.error: None, F.sweep_id: None, F.job_num: None, **fields}


def write_fake(root: Path, name: str, **fields: Any) -> dict[str, Any]:
    record = fake_record(**fields)
    write_record(record, root / name)
    return record


def descendants(pid: int) -> set[int]:
    """The live processes below ``pid`` (children, theirs, ...), from /proc: what a stopped sweep must not leave."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # a zombie has ended; it only waits to be reaped
            parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        pid = todo.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in found]
        found.update(children)
        todo.extend(children)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def killed_on_exit(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """A ``start_cli`` process whose whole session (launcher, workers, jobs) is SIGKILLed if the test fails first."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class PoisonWeightsAt(Callback):
    """Test scaffolding: the net's weights become NaN just before global step ``step``, a divergence at a known
    step (``+callbacks.poison._target_=helpers.PoisonWeightsAt``)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for p in pl_module.net.parameters():
                    p.fill_(float("nan"))


def _release(fifo: Path) -> None:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a reader still blocked on it reads EOF and goes
    except OSError:  # ENXIO: no reader is left
        pass


@contextmanager
def stuck_file(path: Path, rescue_after_s: float = 60) -> Iterator[Path]:
    """A FIFO at ``path`` (named like an image): its reader's open() blocks until a writer comes, as on storage that
    stopped answering. It is released after the block, or after ``rescue_after_s`` (then a job with no loader
    timeout reads EOF and ends instead of hanging the test)."""
    os.mkfifo(path)
    rescue = threading.Timer(rescue_after_s, _release, [path])
    rescue.start()
    try:
        yield path
    finally:
        rescue.cancel()
        _release(path)

