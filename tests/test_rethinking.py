"""experiment=rethinking_table3: the Rethinking paper's Table 3 ablation as one multirun of training jobs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from bench.reference import table3_fields
from helpers import CONF_DIR, run_cli

# Rethinking (Szegedy et al. 2015, arXiv:1512.00567v1) Table 3; figures: single-crop top-1 / top-5 error, Bn ops.
# row -> (model, model options, optim, label smoothing, figures)
TABLE3 = {
    "googlenet": ("googlenet", {"norm": False, "lrn": True}, "sgd", 0.0, (29.0, 9.2, 1.5)),
    "bn_googlenet": ("googlenet", {"norm": True, "lrn": False}, "sgd", 0.0, (26.8, None, 1.5)),
    "bn_inception": ("bn_inception", {}, "sgd", 0.0, (25.2, 7.8, 2.0)),
    "inception_v2": ("inception_v2", {"factorized_7x7": False, "aux_bn": False}, "sgd", 0.0, (23.4, None, 3.8)),
    "rmsprop": ("inception_v2", {"factorized_7x7": False, "aux_bn": False}, "rmsprop", 0.0, (23.1, 6.3, 3.8)),
    "label_smoothing": ("inception_v2", {"factorized_7x7": False, "aux_bn": False}, "rmsprop", 0.1, (22.8, 6.1, 3.8)),
    "factorized_7x7": ("inception_v2", {"factorized_7x7": True, "aux_bn": False}, "rmsprop", 0.1, (21.6, 5.8, 4.8)),
    "bn_auxiliary": ("inception_v2", {"factorized_7x7": True, "aux_bn": True}, "rmsprop", 0.1, (21.2, 5.6, 4.8)),
}
# a CPU-sized run of the preset: the real rows on scikit-learn's digits, two steps each
TINY = ["data=digits", "data.batch_size=16", "trainer=cpu", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1", "trainer.enable_progress_bar=false", "logger=none", "report.after_sweep=false",
        "callbacks.ema=null"]


def test_preset_sweeps_every_row_at_full_scale() -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=rethinking_table3"], return_hydra_config=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params["ablation/rethinking_table3"].split(",") == list(TABLE3)
    assert (cfg.task, cfg.data.name, cfg.trainer.accelerator, cfg.trainer.max_epochs) == ("train", "imagenet", "gpu", 100)


@pytest.mark.parametrize("row", TABLE3)
def test_row_composes_its_model_recipe_and_paper_figures(row: str) -> None:
    model, options, optim, smoothing, figures = TABLE3[row]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=rethinking_table3", f"ablation/rethinking_table3={row}"])
    assert (cfg.model.name, cfg.optim.name, cfg.classifier.label_smoothing) == (model, optim, smoothing)
    assert {k: cfg.model[k] for k in options} == options
    assert set(cfg.ablation) == {"row"} and cfg.ablation.row == row  # the row's identity; its figures live in one place
    fields = table3_fields(row)
    assert (fields["row"], fields["paper_top1_err"], fields["paper_top5_err"], fields["paper_bn_ops"]) == (row, *figures)


def test_tiny_multirun_records_carry_the_paper_figures(tmp_path: Path) -> None:
    rows = ["googlenet", "bn_googlenet"]
    proc = run_cli("experiment=rethinking_table3", f"ablation/rethinking_table3={','.join(rows)}", *TINY,
                   f"paths.results_dir={tmp_path}", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = sorted((json.loads(p.read_text()) for p in tmp_path.rglob("record.json")), key=lambda r: r["job_num"])
    assert [r["row"] for r in recs] == rows and len({r["sweep_id"] for r in recs}) == 1
    for rec in recs:
        assert rec["status"] == "ok", rec["error"]
        assert (rec["paper_top1_err"], rec["paper_top5_err"], rec["paper_bn_ops"]) == TABLE3[rec["row"]][4]
        assert rec["task"] == "train" and rec["global_step"] == 2 and 0 <= rec["top1"] <= 100
        # the environment, as benchmark records carry it
        assert rec["device_type"] == "cpu" and rec["device_count"] == 1 and rec["device_name"] and rec["torch"]
        assert "git_commit" in rec
    assert [r["config"]["model"]["norm"] for r in recs] == [False, True]
