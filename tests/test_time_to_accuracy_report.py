"""The report's training comparison: MLPerf's score rule, misses, the reference check, device against device."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.report.records import build_report
from bench.report.sections import SECTIONS
from bench.report.time_to_accuracy import mlperf_score, reference_check, speedup
from bench.report.figures import FIGURES
from helpers import write_fake


def test_score_drops_fastest_and_slowest_of_five() -> None:
    score = mlperf_score([10.0, 50.0, 20.0, 30.0, 40.0])
    assert score.seconds == 30.0 and score.rule.startswith("MLPerf: mean of 3 runs")


def test_one_miss_is_the_slowest_and_two_misses_give_no_score() -> None:
    one = mlperf_score([10.0, 20.0, None, 30.0, 40.0])
    assert one.seconds == 30.0 and "the miss counted as the slowest" in one.rule  # mean of 20, 30, 40
    two = mlperf_score([10.0, None, None, 30.0, 40.0])
    assert two.seconds is None and two.rule == "no score: 2 of 5 runs missed (MLPerf allows 1)"


def test_fewer_than_five_runs_say_so_and_give_the_median() -> None:
    few = mlperf_score([30.0, 10.0, 20.0])
    assert few.seconds == 20.0 and "fewer than 5 runs (3)" in few.rule
    assert mlperf_score([10.0, None, None]).seconds is None  # the median run missed


def test_reference_check_is_a_one_sided_t_test() -> None:
    assert "converges faster than the reference" in reference_check([10.0, 11.0, 10.5, 9.5, 10.0], 20)
    assert "consistent with the reference" in reference_check([19.0, 21.0, 20.5, 22.0, 18.0], 20)
    assert reference_check([10.0], 20).endswith("needs 2 or more runs that reached the target")
    assert reference_check([10.0, 12.0], None) is None


def test_variants_of_one_model_are_groups_of_their_own(tmp_path: Path) -> None:
    for width in (8, 16):
        for seed in range(2):
            _tta(tmp_path, f"w{width}s{seed}", seed, 10.0 * width + seed, overrides=[f"model.width={width}", f"seed={seed}"])
    report = build_report([tmp_path])
    scored = next(s for s in SECTIONS if s.key == "time_to_accuracy").built_tables(report)[0][1]
    assert scored[["model", "runs", "score_s"]].values.tolist() == [
        ["googlenet_bn model.width=16", 2, 160.5], ["googlenet_bn model.width=8", 2, 80.5]]


def test_speedup_is_the_ratio_of_mean_times_with_the_compare_interval() -> None:
    found = speedup([10.0, 12.0, 14.0], [30.0, 36.0])
    assert found.ratio == pytest.approx(33.0 / 12.0) and speedup([], [1.0]) is None
    low, high = found.interval  # a 2.75x gap with little seed-to-seed spread: the interval holds it, far from 1
    assert 1 < low < found.ratio < high
    assert speedup([10.0, 12.0, 14.0], [30.0, 36.0]) == found  # seeded: the same runs, the same bounds
    assert speedup([10.0], [30.0, 36.0]).interval is None  # one run on a side: no seed-to-seed spread measured


def _tta(root: Path, name: str, seed: int, time_s: float | None, device: str = "Test CPU", energy_j: float | None = None,
         **fields: object) -> None:
    write_fake(root, name, task="train", model="googlenet_bn", data="digits", seed=seed, target_top1=90.0,
               reached=time_s is not None, time_to_target_s=time_s, epochs_to_target=None if time_s is None else 3.0,
               recipe="sgd", reference_epochs=None, train_images_per_s=100.0, eval_time_s=1.0, energy_j=energy_j,
               device_name=device, num_classes=10, eval_mode="center", **fields)


def test_the_report_scores_each_group_and_counts_a_miss(tmp_path: Path) -> None:
    for seed, t in enumerate([10.0, 20.0, 30.0, None, 40.0]):
        _tta(tmp_path, f"cpu{seed}", seed, t)
    for seed, t in enumerate([5.0, 6.0]):
        _tta(tmp_path, f"gpu{seed}", seed, t, device="Test GPU", energy_j=1000.0 * (seed + 1))
    for seed, joules in enumerate([30.0, None]):
        _tta(tmp_path, f"npu{seed}", seed, 7.0, device="Test NPU", energy_j=joules)
    report = build_report([tmp_path])
    section = next(s for s in SECTIONS if s.key == "time_to_accuracy")
    (_, scored), (_, devices) = section.built_tables(report)
    cpu = scored[scored["device"] == "Test CPU"].iloc[0]
    assert (cpu["runs"], cpu["reached"], cpu["missed"], cpu["score_s"]) == (5, 4, 1, 30.0)
    assert (cpu["min_s"], cpu["max_s"]) == (10.0, 40.0) and "3 (miss)" in cpu["seeds"]
    assert cpu["energy_j"] == "not measured"
    gpu = scored[scored["device"] == "Test GPU"].iloc[0]
    assert gpu["score_s"] == 5.5 and "fewer than 5 runs (2)" in gpu["score_rule"]
    assert gpu["energy_j"] == 1500.0  # energy to train, the mean of the group's runs
    assert scored[scored["device"] == "Test NPU"].iloc[0]["energy_j"] == "30 (mean of 1 of 2 runs)"
    line = next(c for c in devices["comparison"] if "Test CPU" in c and "Test GPU" in c)
    assert line == f"Test GPU reaches 90 % {25.0 / 5.5:.3g}x faster than Test CPU"
    figs = FIGURES["time_to_accuracy"](report, section.records(report))
    names = [t["name"] for t in figs[0]["data"]]
    assert len(figs) == 1 and "a seed that missed the target" in names
    missed = next(t for t in figs[0]["data"] if t["name"] == "a seed that missed the target")
    assert missed["text"] == ["miss (seed 3)"]


@pytest.mark.parametrize("status", ["diverged"])
def test_a_diverged_run_is_a_miss_of_its_group(tmp_path: Path, status: str) -> None:
    _tta(tmp_path, "ok", 0, 10.0)
    write_fake(tmp_path, "bad", task="train", model="googlenet_bn", data="digits", status=status, seed=1,
               target_top1=90.0, recipe="sgd", num_classes=10, eval_mode="center")
    report = build_report([tmp_path])
    section = next(s for s in SECTIONS if s.key == "time_to_accuracy")
    scored = section.built_tables(report)[0][1]
    assert scored[["runs", "reached", "missed"]].values.tolist() == [[2, 1, 1]]
