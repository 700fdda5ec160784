"""task=train / task=eval end to end: learning on a real set, resume, bad inputs, multirun, DDP."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from PIL import Image

from bench.training.callbacks import build_callbacks
from contracts.errors import ConfigError
from helpers import (SYNTHETIC_DATA as SYNTHETIC, TEST_NET, TINY_TRAIN, WANDB_CLI, make_train_cfg, records, run_cli,
                     run_train_job as run_job, stuck_file)
from lightning_modules.callbacks import BestCheckpoint, EpochRecorder, StopAtStepEnd, TimeToTarget


def test_fit_on_mnist_learns_and_records_curves(tmp_path: Path) -> None:
    rec = run_job(tmp_path, "data=mnist", "trainer.max_epochs=2", "optim.optimizer.lr=0.1",
                  "logger=wandb", f"logger.dir={tmp_path}")
    assert rec["status"] == "ok", rec["error"]
    assert rec["top1"] > 30 and rec["top5"] > rec["top1"]  # chance: 10% / 50%
    curves = rec["curves"]
    assert curves["epoch"] == [0, 1] and curves["val_loss"][1] < curves["val_loss"][0]
    best = max(range(2), key=lambda e: (curves["val_top1"][e], -e))  # ModelCheckpoint keeps the first of equals
    assert rec["best_epoch"] == best and rec["images_per_s"] > 0
    saved = torch.load(rec["checkpoint"], map_location="cpu", weights_only=True)
    (state,) = [v for k, v in saved["callbacks"].items() if k.startswith("BestCheckpoint")]
    assert saved["epoch"] == state["best_epoch"] == best  # the best checkpoint's own state names its epoch
    (run_dir,) = (tmp_path / "wandb").glob(f"offline-run-*-{rec['run_id']}")
    inspected = subprocess.run([WANDB_CLI, "leet", "inspect", "--summary", "--json", str(run_dir)],
                               capture_output=True, text=True, timeout=60, check=True)
    summary = json.loads(inspected.stdout)["summary"]  # Lightning's curves and the record share the job's run
    assert {"val/top1", "train/loss_epoch", "lr", "train/images_per_s", "top1"} <= set(summary)


def test_resume_continues_step_counter_optimizer_and_curves(tmp_path: Path) -> None:
    first = run_job(tmp_path, *SYNTHETIC, "trainer.max_epochs=1")
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["optimizer_states"][0]["state"]  # momentum buffers are saved
    second = run_job(tmp_path, *SYNTHETIC, "trainer.max_epochs=2", "ckpt_path=last")
    assert second["status"] == "ok", second["error"]
    assert second["global_step"] == 2 * first["global_step"] == 8
    assert second["curves"]["epoch"] == [0, 1] and second["curves"]["val_top1"][0] == first["curves"]["val_top1"][0]


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    run_job(tmp_path / "a", *SYNTHETIC)
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    for task in ("train", "eval"):
        rec = run_job(tmp_path / task, *SYNTHETIC, f"task={task}", f"ckpt_path={last}", "model.name=other_net")
        assert rec["status"] == "error" and "trained with model 'tiny_test'" in rec["error"]


def test_eval_of_a_checkpoint_with_144_crops(tmp_path: Path) -> None:
    trained = run_job(tmp_path / "a", *SYNTHETIC)
    rec = run_job(tmp_path / "b", *SYNTHETIC, "task=eval", f"ckpt_path={trained['checkpoint']}", "data.eval_mode=144crop")
    assert rec["status"] == "ok", rec["error"]
    assert rec["eval_mode"] == "144crop" and 0 <= rec["top1"] <= 100 and rec["val_images"] == 32


def test_nan_loss_stops_as_diverged(tmp_path: Path) -> None:
    rec = run_job(tmp_path, *SYNTHETIC, "optim.optimizer.lr=1e30")
    assert rec["status"] == "diverged" and "loss became" in rec["error"]


def test_channels_last_training_puts_net_and_inputs_in_nhwc(tmp_path: Path) -> None:
    from bench.training.task import build_module

    module, _ = build_module(make_train_cfg(*SYNTHETIC, "classifier.channels_last=true"))
    convs = [m.weight for m in module.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    module.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(module(x), module.net(x.contiguous(memory_format=torch.channels_last)))
    rec = run_job(tmp_path, *SYNTHETIC, "classifier.channels_last=true")
    assert rec["status"] == "ok", rec["error"]


def test_a_divergence_between_checks_names_its_first_step(tmp_path: Path) -> None:
    # the loss is read on the host every 5 steps and at each epoch's end, not every step (a device sync each)
    rec = run_job(tmp_path, *SYNTHETIC, "trainer.max_epochs=3", "trainer.log_every_n_steps=5",
                  "+callbacks.poison._target_=helpers.PoisonWeightsAt", "+callbacks.poison.step=6")
    assert rec["status"] == "diverged", rec["error"]
    assert "training loss became nan at step 6 (epoch 1)" in rec["error"]


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    rec = run_job(tmp_path, "data=imagenet", f"data.root={tmp_path / 'none'}")
    assert rec["status"] == "error" and "expected" in rec["error"] and "n01440764" in rec["error"]


def _class_folders(root: Path, classes: int) -> Path:
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (20, 20), (40 * c, 10 * i, 0)).save(folder / f"{i}.png")
    return root


def test_imagefolder_counts_its_class_folders(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "data", classes=3)
    rec = run_job(tmp_path / "job", "data=imagefolder", f"data.root={root}", "data.num_workers=0", "data.input_size=16",
                  "data.batch_size=2")
    assert rec["status"] == "ok", rec["error"]
    assert rec["num_classes"] == rec["config"]["data"]["num_classes"] == rec["config"]["model"]["num_classes"] == 3


@pytest.mark.parametrize("task", ["train", "eval"])
def test_a_worker_stuck_on_a_read_ends_the_job_with_a_record_not_a_hang(tmp_path: Path, task: str) -> None:
    # a FIFO named like a JPEG blocks its reader's open() until a writer comes: storage that stopped answering
    root = _class_folders(tmp_path / "data", classes=2)
    split = "train" if task == "train" else "val"
    (root / split / "class0" / "1.png").unlink()  # 3 images + the FIFO: whole batches of 2, none dropped
    overrides = ["data=imagefolder", f"data.root={root}", "data.num_workers=1", "data.input_size=16",
                 "data.batch_size=2", "data.timeout_s=2"]
    if task == "eval":
        trained = run_job(tmp_path / "trained", *overrides[:-1], "data.num_workers=0")  # before the FIFO
        assert trained["status"] == "ok", trained["error"]
        overrides.append(f"ckpt_path={trained['checkpoint']}")
    start = time.monotonic()
    with stuck_file(root / split / "class0" / "stuck.jpg"):
        rec = run_job(tmp_path / "job", *overrides, f"task={task}")
    assert time.monotonic() - start < 60
    assert rec["status"] == "error"
    assert rec["error"].startswith("the data loader's workers gave no batch in 2 s (data.timeout_s): one is stuck")
    assert not (tmp_path / "job" / "error.log").exists()  # a known failure, not a bug's traceback
    if task == "train":
        assert rec["train_time_s"] >= 2  # the clock so far (what a resume adds to), the wait for the batch in it


def test_a_missing_or_uncountable_value_is_one_line_naming_the_key(tmp_path: Path) -> None:
    rec = run_job(tmp_path / "a", "data=imagefolder", f"data.root={tmp_path / 'nowhere'}")
    assert rec["status"] == "error" and rec["error"].startswith("data.num_classes: no class folders to count in ")
    assert "data.root" in rec["error"] and not (tmp_path / "a" / "error.log").exists()  # a bad option, not a bug
    proc = run_cli(*TEST_NET, *TINY_TRAIN, "data=imagefolder", f"paths.results_dir={tmp_path / 'b'}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "data.root has no value (it is ??? in the config); set it on the command line: data.root=..." in proc.stderr


def test_multirun_gives_one_record_and_one_wandb_run_per_job(tmp_path: Path) -> None:
    proc = run_cli("-m", *TEST_NET, *TINY_TRAIN, *SYNTHETIC, "logger=wandb", f"paths.results_dir={tmp_path}", "seed=1,2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = records(tmp_path)
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs) and len({r["out_dir"] for r in recs}) == 2
    for r in recs:
        assert len(list(Path(r["out_dir"], "wandb").glob("offline-run-*"))) == 1


def test_ddp_gloo_two_processes_inside_a_multirun(tmp_path: Path) -> None:
    proc = run_cli("-m", *TEST_NET, *TINY_TRAIN, *SYNTHETIC, "trainer=ddp_cpu", "trainer.devices=2", "trainer.enable_progress_bar=false",
                   f"paths.results_dir={tmp_path}", "seed=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = records(tmp_path)
    assert len(recs) == 1 and recs[0]["status"] == "ok", recs and recs[0]["error"]
    # 64 images / (2 processes x 16 per batch) = 2 steps; the job dir holds the checkpoints, no stray run dirs
    assert recs[0]["global_step"] == 2 and Path(recs[0]["out_dir"], "checkpoints", "last.ckpt").is_file()
    assert not (tmp_path / "runs").exists()


def test_callbacks_come_from_the_config_group_with_the_jobs_values_filled_in(tmp_path: Path) -> None:
    runtime = {"dirpath": tmp_path, "checkpoint": tmp_path / "last.ckpt", "guard": None, "path": tmp_path / "log",
               "started_s": 0.0, "top_k": 3}
    built = build_callbacks(make_train_cfg("callbacks=ema", "callbacks.step_checkpoint=null").callbacks, runtime)
    kinds = [type(c) for c in built]
    # no target, no guard: those two are left out; step_checkpoint=null drops it; ema adds one
    assert TimeToTarget not in kinds and StopAtStepEnd not in kinds and EMAWeightAveraging in kinds
    best, recorder = (next(c for c in built if isinstance(c, k)) for k in (BestCheckpoint, EpochRecorder))
    assert Path(best.dirpath) == tmp_path and best.monitor == "val/top1" and recorder.top_k_curve == "val_top3"
    target = build_callbacks(make_train_cfg("train.target_top1=50").callbacks, runtime)
    assert next(c for c in target if isinstance(c, TimeToTarget)).target == 50
    for bad, message in (("+callbacks.x={_target_:nowhere.Thing}", "callbacks.x._target_ 'nowhere.Thing' cannot be imported"),
                         ("+callbacks.x=3", "callbacks.x must be null or a mapping with a _target_")):
        with pytest.raises(ConfigError, match=message):
            build_callbacks(make_train_cfg(bad).callbacks, runtime)
