"""experiment=seed_module_costs and the pair table: FLOP ratio beside time ratio for each seed pair."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from bench.reference import SEED_PAIRS
from bench.report.seed_pairs import pair_sentence, pair_table
from bench.report.records import load_records
from helpers import REPO, fake_record, run_cli

PRESET = REPO / "conf" / "experiment" / "seed_module_costs.yaml"


def test_the_preset_sweeps_the_models_of_every_seed_pair_in_both_modes() -> None:
    params = OmegaConf.load(PRESET).hydra.sweeper.params
    assert params.model.split(",") == [name for pair in SEED_PAIRS for name in (pair.baseline, pair.improved)]
    assert params["bench.mode"].split(",") == ["forward", "forward_backward"]


@pytest.mark.slow
def test_a_tiny_run_of_the_preset_gives_both_ratios_for_every_pair(tmp_path: Path) -> None:
    done = run_cli("experiment=seed_module_costs", "bench.batch_size=2", "bench.steps=2", "bench.burn_in=0",
                   "bench.threads=1", "logger=none", "report.after_sweep=false", f"paths.results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    records, skipped = load_records([tmp_path])
    assert not skipped and len(records) == 16 and set(records["status"]) == {"ok"}
    table = pair_table(records)
    assert len(table) == 8 and set(table["mode"]) == {"forward", "forward_backward"}
    assert table["pair"].tolist()[:4] == [pair.name for pair in SEED_PAIRS]
    assert (table["time_ratio"] > 0).all() and (table["flop_ratio"] > 1).all()
    forward = table[table["mode"] == "forward"].set_index("pair")["flop_ratio"]
    # Rethinking's arithmetic, counted: two 3x3 cost 18/25 of one 5x5; 1x7 + 7x1 cost 2/7 of a 7x7
    assert forward["5x5 -> two 3x3"] == pytest.approx(25 / 18, rel=1e-3)
    assert forward["nxn -> 1xn + nx1"] == pytest.approx(7 / 2, rel=1e-3)
    sentence = pair_sentence(table.iloc[0])
    assert sentence.startswith("1x1 reduction saves 2.4x the FLOPs and ") and "the time (forward, " in sentence


def seed_record(model: str, device: str, mode: str, gflops: float, mean_s: float, **more: object) -> dict[str, object]:
    return fake_record(model=model, device_name=device, mode=mode, gflops_per_image_step=gflops, mean_s=mean_s,
                       batch_size=4, **more)


def test_pair_table_per_device_with_medians_and_only_plain_ok_runs() -> None:
    pair = SEED_PAIRS[1]
    rows = [
        seed_record(pair.baseline, "CPU A", "forward", 2.0, 0.04),
        seed_record(pair.baseline, "CPU A", "forward", 2.0, 0.08),
        seed_record(pair.baseline, "CPU A", "forward", 2.0, 0.06),  # median 0.06 s / 4 images
        seed_record(pair.improved, "CPU A", "forward", 1.0, 0.03),
        seed_record(pair.improved, "CPU A", "forward", 1.0, 0.001, status="error"),
        seed_record(pair.improved, "CPU A", "forward", 1.0, 0.001, profiled=True),
        seed_record(pair.improved, "CPU A", "forward", 1.0, 0.001, input="loader"),
        seed_record(pair.baseline, "GPU B", "forward", 2.0, 0.01),
        seed_record(pair.improved, "GPU B", "forward", 1.0, 0.01),
        seed_record(SEED_PAIRS[0].baseline, "GPU B", "forward", 1.0, 0.01),  # its partner never ran: no row
        seed_record("googlenet", "GPU B", "forward", 3.0, 0.01),
    ]
    table = pair_table(pd.DataFrame(rows)).set_index("device")
    assert list(table.index) == ["CPU A", "GPU B"] and set(table["pair"]) == {pair.name}
    assert table.loc["CPU A", "flop_ratio"] == 2.0 and table.loc["CPU A", "time_ratio"] == pytest.approx(2.0)
    assert table.loc["CPU A", "baseline_ms"] == pytest.approx(15.0)
    assert table.loc["GPU B", "time_ratio"] == pytest.approx(1.0)
    assert pair_sentence(table.reset_index().iloc[0]) == f"{pair.name} saves 2.0x the FLOPs and 2.0x the time (forward, CPU A)"
    assert pair_sentence(table.reset_index().iloc[1]).endswith("saves 2.0x the FLOPs and takes about the same time (forward, GPU B)")
    assert pair_sentence({**table.reset_index().iloc[1], "time_ratio": 0.5}).endswith("and costs 2.0x the time (forward, GPU B)")
