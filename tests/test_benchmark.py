"""The benchmark task end to end: figures, the record, and every bad input the issue names."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.job.record import read_record
from run import run_task
from lightning_modules.zoo import get_model_info
from helpers import GOOGLENET_RUN, REPO, run_cli

SMALL = get_model_info("googlenet").min_input_size
TINY_RUN = GOOGLENET_RUN
assert f"bench.input_size={SMALL}" in TINY_RUN


def test_benchmark_record_holds_what_ran_and_the_printed_figures(compose_cfg, tmp_path: Path, capsys) -> None:
    record = run_task(compose_cfg(*TINY_RUN, "bench.repeats=2"), tmp_path)
    assert record["status"] == "ok", record["error"]
    on_disk = read_record(tmp_path / "record.json")
    assert on_disk["status"] == "ok" and on_disk["run_id"] == record["run_id"]
    for key in ("model", "batch_size", "input_size", "precision", "memory_format", "compile", "device_name",
                "device_count", "torch", "host", "params", "gmacs_per_image", "achieved_tflops", "peak_tflops",
                "utilization", "peak_memory_mb", "p90_s", "p99_s", "median_s", "images_per_s", "repeat_std_s"):
        assert on_disk[key] is not None, key
    # the paper-form GoogLeNet: aux heads are left out of `params`, as in the papers' counts
    assert (on_disk["params"], on_disk["params_with_aux"]) == (6_998_552, 13_378_280)
    assert len(on_disk["step_times_s"]) == 6 and len(on_disk["repeat_means_s"]) == 2
    assert on_disk["mean_s"] == pytest.approx(sum(on_disk["step_times_s"]) / 6)
    lines = re.findall(r"Forward across 3 steps, (\d\.\d{3}) \+/- (\d\.\d{3}) sec / batch", capsys.readouterr().out)
    assert [float(m) for m, _ in lines] == [round(m, 3) for m in on_disk["repeat_means_s"]]


def test_forward_backward_mode_runs_a_training_step(compose_cfg, tmp_path: Path, capsys) -> None:
    # at 224 the paper's aux heads (fixed 4x4 pooled map) are trained too
    record = run_task(compose_cfg(*TINY_RUN, "bench=train_step", "bench.input_size=224"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert "Forward-backward across 3 steps" in capsys.readouterr().out
    assert record["gflops_per_image_step"] > 2 * record["gmacs_per_image"]  # backward costs about 2x forward


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("bench.precision=fp64", "unknown bench.precision 'fp64'; valid choices: fp32, bf16, fp16"),
        ("bench.mode=backward", "valid choices: forward, forward_backward"),
        ("bench.compile=fast", "unknown bench.compile 'fast'; valid choices"),
        ("bench.batch_size=0", "bench.batch_size must be a positive integer"),
        ("bench.steps=-1", "bench.steps must be a positive integer"),
        ("bench.device=tpu", "unknown device 'tpu'; valid choices: auto, cpu, cuda, cuda:N"),
        (f"bench.input_size={SMALL - 1}", f"smaller than {SMALL}, the minimum input of this model"),
    ],
)
def test_bad_options_fail_before_any_work_with_a_clear_message(compose_cfg, tmp_path: Path, override: str, message: str) -> None:
    record = run_task(compose_cfg(*TINY_RUN, override), tmp_path)
    assert record["status"] == "error" and message in record["error"]
    assert "step_times_s" not in read_record(tmp_path / "record.json")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*TINY_RUN, "bench.device=cuda"), tmp_path)
    assert record["status"] == "error" and "no CUDA device is available" in record["error"]


def test_out_of_memory_is_recorded_with_the_batch_size(compose_cfg, tmp_path: Path, monkeypatch) -> None:
    def exhausted(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    from lightning_modules.zoo.googlenet import GoogLeNet

    monkeypatch.setattr(GoogLeNet, "forward", exhausted)
    record = run_task(compose_cfg(*TINY_RUN), tmp_path)
    assert record["status"] == "oom" and "batch size 2" in record["error"]
    assert read_record(tmp_path / "record.json")["batch_size"] == 2


def test_ctrl_c_leaves_a_record_marked_interrupted(compose_cfg, tmp_path: Path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bench.benchmark.scenarios.time_steps_both", interrupted)
    record = run_task(compose_cfg(*TINY_RUN), tmp_path)  # recorded, not raised: a sweep goes on (issue 9)
    assert read_record(tmp_path / "record.json")["status"] == record["status"] == "interrupted"
    assert record["signal"] == "SIGINT"


def test_run_py_end_to_end_prints_the_book_line_and_writes_the_record(tmp_path: Path) -> None:
    proc = run_cli(*TINY_RUN, f"paths.results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    mean, std = re.search(r"Forward across 3 steps, (\d\.\d{3}) \+/- (\d\.\d{3}) sec / batch", proc.stdout).groups()
    (record_path,) = tmp_path.glob("runs/*/*_benchmark_googlenet/record.json")
    record = read_record(record_path)
    assert record["status"] == "ok" and record["out_dir"] == str(record_path.parent)
    assert (f"{record['mean_s']:.3f}", f"{record['std_s']:.3f}") == (mean, std)


@pytest.mark.parametrize(
    ("override", "message"),
    [("model=resnet50", "Could not find 'model/resnet50'"), ("bench.precision=fp64", "valid choices: fp32, bf16, fp16")],
)
def test_run_py_bad_input_is_one_clear_line_and_exit_code(tmp_path: Path, override: str, message: str) -> None:
    proc = run_cli(*TINY_RUN, override, f"paths.results_dir={tmp_path}")
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_run_py_shows_the_composed_config() -> None:
    proc = run_cli("--cfg", "job", "experiment=tf_book_googlenet")
    assert proc.returncode == 0, proc.stderr
    assert "batch_size: 32" in proc.stdout and "steps: 100" in proc.stdout and "burn_in: 10" in proc.stdout


def test_a_killed_run_leaves_a_record_that_says_it_did_not_finish(tmp_path: Path) -> None:
    args = [*TINY_RUN, "bench.steps=100000", "isolate=false", f"paths.results_dir={tmp_path}"]  # in-process
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("runs/*/*/record.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # well inside the timed loop
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    (record_path,) = tmp_path.glob("runs/*/*/record.json")
    assert read_record(record_path)["status"] == "running"  # never `ok`, never half-written
