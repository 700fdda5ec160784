"""bench.input=loader on a JPEG ImageFolder written here: three throughputs, the data-bound verdict, bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from run import run_task
from helpers import TEST_NET, stuck_file

# GoogLeNet at 160x160 with one thread: a training step slow enough (~4 img/s here) that 80x96 JPEGs read with
# 0 workers (loading in series with the model) keep up with it, and fast enough for a test.
GOOGLENET_TRAIN = ["model=googlenet", "bench=train_step", "bench.batch_size=4", "bench.input_size=160",
                   "bench.steps=3", "bench.burn_in=1", "bench.log_every=0", "bench.threads=1", "logger=none"]


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ and val/ with two class folders of random 80x96 JPEGs (24 train, 12 val images)."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 12), ("val", 6)):
        for label in ("cat", "dog"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(folder / f"{i}.jpg", quality=90)
    return root


def loader_args(root: Path, *more: str) -> list[str]:
    return ["bench.input=loader", "data=imagefolder", f"data.root={root}", "data.num_classes=2",
            "data.num_workers=0", "+data.augment.photometric=false", *more]


def test_data_bound_flips_with_a_slow_pipeline_and_clears_with_a_fast_one(compose_cfg, tmp_path: Path, jpeg_folder: Path,
                                                                       capsys) -> None:
    # 60 ms per image read caps the pipeline near 17 img/s, in series with the model: end to end falls well
    # below 0.9 x the model alone. Without the wait the pipeline runs ~30x faster than the model.
    slow = run_task(compose_cfg(*GOOGLENET_TRAIN, *loader_args(jpeg_folder, "bench.loader.read_latency_ms=60")), tmp_path / "slow")
    slow_out = capsys.readouterr().out
    fast = run_task(compose_cfg(*GOOGLENET_TRAIN, *loader_args(jpeg_folder)), tmp_path / "fast")
    fast_out = capsys.readouterr().out
    for record in (slow, fast):
        assert record["status"] == "ok", record["error"]
        assert record["input"] == "loader" and record["decode"] == "cpu" and record["mode"] == "forward_backward"
        for key in ("pipeline_images_per_s", "pipeline_images_per_s_per_worker", "model_images_per_s", "images_per_s"):
            assert record[key] > 0, key
        assert record["pipeline_images_per_s_per_worker"] == record["pipeline_images_per_s"]  # 0 workers: the main process
        # end to end is bounded by either side alone (up to the noise of a shared machine)
        assert record["images_per_s"] <= 1.15 * min(record["pipeline_images_per_s"], record["model_images_per_s"])
        assert len(record["step_times_s"]) == 3  # the timed figures are the end-to-end steps
    assert slow["pipeline_images_per_s"] < 1000 / 60
    assert slow["data_bound"] is True and fast["data_bound"] is False
    assert slow["images_per_s"] < 0.9 * slow["model_images_per_s"]
    assert fast["images_per_s"] >= 0.9 * fast["model_images_per_s"]
    # the one line saying which side limits, and the workers that would feed the model at its own speed
    needed = -(-slow["model_images_per_s"] // slow["pipeline_images_per_s_per_worker"])
    assert slow["workers_needed"] == needed >= 1
    assert f"Data-bound: end to end is {slow['images_per_s'] / slow['model_images_per_s']:.2f} x the model alone" in slow_out
    assert f"{slow['workers_needed']} worker" in slow_out
    assert "Model-bound: end to end is" in fast_out and "the model limits this run" in fast_out


def test_forward_mode_with_workers_reads_a_small_val_split_again(compose_cfg, tmp_path: Path, jpeg_folder: Path,
                                                                capsys) -> None:
    # 12 val images in batches of 4; 3 passes of 4 steps each read 48 images: the loader cycles
    record = run_task(compose_cfg(*TEST_NET, "bench.batch_size=4", "bench.input_size=32", "bench.steps=4",
                                  "bench.burn_in=0", "bench.log_every=0", *loader_args(jpeg_folder, "data.num_workers=2")),
                      tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["mode"] == "forward" and record["distinct_images"] == 12
    assert record["pipeline_images_per_s_per_worker"] == pytest.approx(record["pipeline_images_per_s"] / 2)
    assert isinstance(record["data_bound"], bool) and record["workers_needed"] >= 1
    assert "The dataset holds 12 images: the loader read it again (12 distinct images in" in capsys.readouterr().out


def test_a_worker_stuck_on_a_read_ends_loader_mode_with_a_record(compose_cfg, tmp_path: Path, jpeg_folder: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(jpeg_folder, root)
    with stuck_file(root / "val" / "cat" / "stuck.jpg"):  # the val split: forward mode reads it
        record = run_task(compose_cfg(*TEST_NET, "bench.batch_size=4", "bench.input_size=32", "bench.steps=4",
                                      "bench.burn_in=0", "bench.log_every=0",
                                      *loader_args(root, "data.num_workers=1", "data.timeout_s=2")), tmp_path / "job")
    assert record["status"] == "error"
    assert record["error"].startswith("the data loader's workers gave no batch in 2 s (data.timeout_s)")


def test_synthetic_input_records_say_so(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*TEST_NET, "bench.steps=2", "bench.burn_in=0", "bench.log_every=0"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["input"] == "synthetic" and "data_bound" not in record and record["profiled"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["bench.input=loader"], "bench.input=loader needs a real dataset (data=imagefolder, imagenet, mnist or digits)"),
        (["bench.input=loader", "data=digits", "data.decode=tpu"], "unknown data.decode 'tpu'; valid choices: cpu, gpu"),
        (["bench.input=loader", "data=digits", "data.eval_mode=10crop"], "use data.eval_mode=center"),
        (["bench.input=loader", "data=digits", "bench.profile.enabled=true"], "it does not combine with bench.input=loader"),
        (["bench.loader.read_latency_ms=-5"], "bench.loader.read_latency_ms must be a number >= 0, got -5"),
        (["bench.loader.read_latency_ms=5"], "bench.loader.read_latency_ms applies to the data loader: add bench.input=loader"),
    ],
)
def test_bad_loader_options_are_one_line_before_any_work(compose_cfg, tmp_path: Path, overrides: list[str], message: str) -> None:
    record = run_task(compose_cfg(*TEST_NET, *overrides), tmp_path)
    assert record["status"] == "error" and message in record["error"]
    assert "params" not in record  # stopped before the model was even built


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_gpu_decode_without_cuda_fails_before_any_work(compose_cfg, tmp_path: Path, jpeg_folder: Path) -> None:
    record = run_task(compose_cfg(*TEST_NET, *loader_args(jpeg_folder, "data.decode=gpu")), tmp_path)
    assert record["status"] == "error"
    assert record["error"].startswith("data.decode=gpu needs a CUDA device")
    assert "params" not in record


def test_a_split_smaller_than_one_batch_is_named(compose_cfg, tmp_path: Path, jpeg_folder: Path) -> None:
    record = run_task(compose_cfg(*GOOGLENET_TRAIN, *loader_args(jpeg_folder), "bench.batch_size=32"), tmp_path)
    assert record["status"] == "error"
    assert record["error"] == "the train split of data=imagefolder holds 24 images, fewer than one batch of 32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_decode_feeds_the_model_from_the_device(compose_cfg, tmp_path: Path, jpeg_folder: Path) -> None:
    record = run_task(compose_cfg(*TEST_NET, "bench.batch_size=4", "bench.steps=4", "bench.burn_in=1", "bench.log_every=0",
                                  *loader_args(jpeg_folder, "data.decode=gpu", "data.num_workers=2")), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["decode"] == "gpu" and record["device_type"] == "cuda" and record["pipeline_images_per_s"] > 0


def test_an_in_memory_set_feeds_a_training_step_too(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*TEST_NET, "bench=train_step", "bench.batch_size=8", "bench.steps=3", "bench.burn_in=0",
                                  "bench.log_every=0", "bench.input=loader", "data=digits"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["data"] == "digits" and record["input_size"] == 32 and record["mode"] == "forward_backward"  # 8x8 resized up
    # one pipeline pass (1 warm-up + 3 timed batches), three end-to-end passes (1 + 1 each): 80 reads from 1,437 images
    assert 40 <= record["distinct_images"] <= 80 and record["pipeline_images_per_s"] > 0
