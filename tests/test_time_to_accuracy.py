"""Time to accuracy: the training clock across resumes, the target, a stop in validation, bad options, DDP."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from bench.job import signals
from helpers import CONF_DIR, REPO, SYNTHETIC_DATA, TEST_NET, TINY_TRAIN, records, run_cli, run_train_job
from lightning_modules.mllog import read_events
from tests import tta_callbacks

# the fake clock drives the training clock: +1 s per training batch, +100 s per validation batch;
# 64 images / batch 16 = 4 training batches an epoch, 32 / 16 = 2 validation batches
FAKE = ["+callbacks.epoch_recorder.clock={_target_:tests.tta_callbacks.fake_clock}",
        "+callbacks.ticker={_target_:tests.tta_callbacks.fake_clock}"]
SCORED = [*FAKE, f"+callbacks.time_to_target.monitor={tta_callbacks.SCORE}"]  # 10 %, 20 %, 30 % at epochs 0, 1, 2


@pytest.fixture(autouse=True)
def _fresh_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tta_callbacks.CLOCK, "now", 0.0)
    monkeypatch.setattr(signals, "_stopped_by", None)  # a signal a test sends must not refuse the next jobs


def _job(out: Path, *overrides: str) -> dict:
    return run_train_job(out, *SYNTHETIC_DATA, *overrides)


def test_resume_over_three_segments_carries_the_clock_curves_and_time_to_target(tmp_path: Path) -> None:
    segs = [_job(tmp_path, *SCORED, "train.target_top1=25", f"trainer.max_epochs={n}", *(["ckpt_path=last"] if n > 1 else []))
            for n in (1, 2, 3)]
    assert [r["status"] for r in segs] == ["ok"] * 3, [r["error"] for r in segs]
    assert [r["segments"] for r in segs] == [1, 2, 3]
    # the true totals: 4 training batches (4 s) and 2 validation batches (200 s) per epoch, whatever the segment
    assert [r["train_time_s"] for r in segs] == [4.0, 8.0, 12.0]
    assert [r["eval_time_s"] for r in segs] == [200.0, 400.0, 600.0]
    assert segs[-1]["curves"]["time_s"] == [4.0, 8.0, 12.0] and segs[-1]["curves"]["epoch"] == [0, 1, 2]
    assert [r["reached"] for r in segs] == [False, False, True]  # 10 %, 20 %: misses; 30 % >= 25 % in the third
    last = segs[-1]
    assert (last["time_to_target_s"], last["epochs_to_target"], last["samples_to_target"], last["evals_to_target"]) == (
        12.0, 3.0, 192, 3)
    assert last["clock"]["excludes"][1].startswith("validation") and last["train_images_per_s"] == 192 / 12.0
    starts = [e for e in read_events(last["event_log"]) if e["key"] == "init_start"]
    assert [e["metadata"]["segment"] for e in starts] == [1, 2, 3]  # one event log, appended by each segment


def test_the_run_stops_at_the_target_and_a_miss_is_recorded(tmp_path: Path) -> None:
    hit = _job(tmp_path / "hit", *SCORED, "train.target_top1=20", "trainer.max_epochs=5")
    assert hit["status"] == "ok" and hit["reached"] is True and hit["epochs"] == 2  # stopped after epoch 1's eval
    assert (hit["time_to_target_s"], hit["samples_to_target"]) == (8.0, 128)
    miss = _job(tmp_path / "miss", *SCORED, "train.target_top1=99", "trainer.max_epochs=2")
    assert miss["status"] == "ok" and miss["reached"] is False and miss["time_to_target_s"] is None
    assert miss["target_top1"] == 99 and miss["train_time_s"] == 8.0  # trained the whole budget
    (stop,) = [e for e in read_events(miss["event_log"]) if e["key"] == "run_stop"]
    assert stop["metadata"]["status"] == "aborted"


def test_a_signal_in_validation_leaves_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    stopped = _job(tmp_path, *FAKE, "trainer.max_epochs=3", "+callbacks.sigterm={_target_:tests.tta_callbacks.SigtermAtValidation,epoch:1}")
    assert (stopped["status"], stopped["signal"]) == ("interrupted", "SIGTERM")
    saved = torch.load(stopped["checkpoint"], map_location="cpu", weights_only=True)
    assert Path(stopped["checkpoint"]).name == "last.ckpt" and saved["global_step"] == 8  # both epochs' steps kept
    (clock,) = [v for k, v in saved["callbacks"].items() if k.startswith("EpochRecorder")]
    assert clock["train_s"] == 8.0
    resumed = _job(tmp_path, *FAKE, "trainer.max_epochs=3", "ckpt_path=last")
    assert resumed["status"] == "ok" and resumed["resumed_from"] == stopped["checkpoint"], resumed["error"]
    assert resumed["global_step"] == 12 and resumed["train_time_s"] == 12.0 and resumed["segments"] == 2


def test_a_three_class_set_records_top3_as_top3(tmp_path: Path) -> None:
    rec = _job(tmp_path, "data.num_classes=3")
    assert rec["status"] == "ok" and rec["top_k"] == 3 and "top3" in rec and "top5" not in rec
    assert "val_top3" in rec["curves"] and "val_top5" not in rec["curves"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.target_top1=101"], "train.target_top1 must be a top-1 accuracy in % between 0 and 100"),
    (["train.target_top1=-1"], "train.target_top1 must be a top-1 accuracy in % between 0 and 100"),
    (["train.seeds=0"], "train.seeds must be a whole number of runs >= 1"),
    (["train.target_top1=50", "+trainer.limit_val_batches=0"], "train.target_top1=50 needs a validation set"),
    # an empty synthetic validation set is refused by the data schema before the target could need it
    (["train.target_top1=50", "data.val_size=0"], "data.val_size must be a positive integer, got 0"),
])
def test_bad_time_to_accuracy_options_are_one_line(tmp_path: Path, overrides: list[str], message: str) -> None:
    rec = _job(tmp_path, *overrides)
    assert rec["status"] == "error" and rec["error"].startswith(message) and "\n" not in rec["error"]


def test_a_seed_sweep_of_zero_runs_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = run_cli("experiment=time_to_accuracy", *TEST_NET, *TINY_TRAIN, *SYNTHETIC_DATA, "train.target_top1=50",
                   "train.seeds=0", f"paths.results_dir={tmp_path}", "report.after_sweep=false")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr  # a sweep goes on; its one job says why
    (rec,) = records(tmp_path)
    assert rec["status"] == "error" and rec["error"].startswith("train.seeds must be a whole number of runs >= 1")


@pytest.mark.slow
def test_ddp_two_processes_write_one_event_log_and_one_record(tmp_path: Path) -> None:
    proc = run_cli("-m", *TEST_NET, *TINY_TRAIN, *SYNTHETIC_DATA, "trainer=ddp_cpu", "trainer.devices=2",
                   "train.target_top1=0", f"paths.results_dir={tmp_path}", "seed=3", "report.after_sweep=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (rec,) = records(tmp_path)
    assert rec["status"] == "ok" and rec["reached"] is True and rec["samples_to_target"] == 64, rec["error"]
    (log,) = Path(rec["out_dir"]).rglob("mllog.txt")
    assert str(log) == rec["event_log"]
    events = read_events(log)
    keys = [e["key"] for e in events]
    assert keys.count("init_start") == keys.count("run_start") == keys.count("run_stop") == 1  # rank 0 only
    assert {e["key"]: e["value"] for e in events}["global_batch_size"] == 32 and json.dumps(events)


def test_the_digits_study_sweeps_two_variants_of_a_shipped_net_no_test_net() -> None:
    """The README's CPU study: 5 seeds x googlenet_bn with and without aux heads, alternating, at digits' 15 px."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=time_to_accuracy_digits"], return_hydra_config=True)
        params = cfg.hydra.sweeper.params
        assert list(params) == ["seed", "model.aux_logits"]  # seed outer: the variants alternate within each seed
        assert params["model.aux_logits"].split(",") == ["true", "false"] and not cfg.hydra.searchpath
        assert (REPO / "conf" / "model" / f"{cfg.model.name}.yaml").is_file()  # a shipped model config
        assert (cfg.task, cfg.data.name, cfg.train.target_top1, cfg.train.seeds) == ("train", "digits", 40, 5)
        jobs = [compose("config", overrides=["experiment=time_to_accuracy_digits", f"model.aux_logits={aux}", "seed=0"])
                for aux in ("true", "false")]
    for job in jobs:
        net = instantiate(job.model)
        size = instantiate(job.data, model_info=net.info).size  # the model's minimum, never below digits' 8 px
        assert size == 15 and len(net.aux_heads) == (2 if job.model.aux_logits else 0)
        with torch.no_grad():
            trained = net.train()(torch.zeros(2, 3, size, size))  # training: the logits and each aux head's
            logits, aux = trained if job.model.aux_logits else (trained, ())
            assert logits.shape == (2, 10) and len(aux) == len(net.aux_heads)
            assert net.eval()(torch.zeros(2, 3, size, size)).shape == (2, 10)
