"""The benchmark task end to end: figures, the record, and every bad input the issue names."""
from __future__ import annotations

import os
import re
import resource
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.job.environment import cpu_model
from bench.job.record import read_record
from run import run_task
from lightning_modules.zoo import get_model_info
from helpers import GOOGLENET_RUN, TEST_NET, run_cli, start_cli, wait_until

SMALL = get_model_info("googlenet").min_input_size
TINY_RUN = GOOGLENET_RUN
assert f"bench.input_size={SMALL}" in TINY_RUN


def test_benchmark_record_holds_what_ran_and_the_printed_figures(compose_cfg, tmp_path: Path, capsys) -> None:
    record = run_task(compose_cfg(*TINY_RUN, "bench.repeats=2"), tmp_path)
    assert record["status"] == "ok", record["error"]
    on_disk = read_record(tmp_path / "record.json")
    assert on_disk["status"] == "ok" and on_disk["run_id"] == record["run_id"]
    # what ran, as configured, and where
    assert (on_disk["model"], on_disk["batch_size"], on_disk["input_size"], on_disk["precision"]) == (
        "googlenet", 2, SMALL, "fp32")
    assert (on_disk["memory_format"], on_disk["compile"]) == ("channels_last", "off")
    assert (on_disk["device_name"], on_disk["device_count"]) == (cpu_model(), 1)
    assert (on_disk["torch"], on_disk["host"]) == (torch.__version__, socket.gethostname())
    # the figures, each from what it summarises: the timed steps, the repeats, the FLOP count, the process
    steps = np.asarray(on_disk["step_times_s"])
    assert [on_disk[k] for k in ("median_s", "p90_s", "p99_s")] == pytest.approx(np.percentile(steps, [50, 90, 99]))
    assert on_disk["images_per_s"] == pytest.approx(2 / on_disk["mean_s"])
    assert on_disk["repeat_std_s"] == pytest.approx(np.std(on_disk["repeat_means_s"]))
    assert on_disk["gmacs_per_image"] == pytest.approx(0.0333025, rel=1e-5)  # GoogLeNet at 31 x 31, without aux heads
    assert on_disk["gflops_per_image_step"] == pytest.approx(2 * on_disk["gmacs_per_image"])  # a forward step
    assert on_disk["achieved_tflops"] == pytest.approx(on_disk["gflops_per_image_step"] * on_disk["images_per_s"] / 1e3)
    assert on_disk["peak_tflops"] > 0 and on_disk["utilization"] == pytest.approx(
        on_disk["achieved_tflops"] / on_disk["peak_tflops"])
    assert 0 < on_disk["peak_memory_mb"] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process's
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
        ("bench.compile=fast", "unknown bench.compile 'fast'; valid choices"),
        ("bench.batch_size=0", "bench.batch_size must be a positive integer or auto, got 0"),
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
    """SIGKILLed inside the timed loop (after its 11th step printed its line, before the loop's book line)."""
    output = tmp_path / "output.txt"
    # the test net, in-process (no parent to record the death); a line every 10 timed steps says how far it is
    args = [*TEST_NET, "bench.steps=100000000", "bench.burn_in=1", "bench.log_every=10", "isolate=false",
            f"paths.results_dir={tmp_path}"]
    proc = start_cli(*args, output=output)
    try:
        wait_until(lambda: ": step 10, duration = " in output.read_text(), 120, "timed step 10", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert "Forward across" not in output.read_text()  # the timed loop had not ended: the kill landed inside it
    (record_path,) = tmp_path.glob("runs/*/*/record.json")
    assert read_record(record_path)["status"] == "running"  # never `ok`, never half-written
