"""The serving scenarios as jobs: bad input before any work, single-stream latency, presets, the multirun."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bench.benchmark.scenarios import SCENARIO_FIELDS
from bench.job.record import read_record
from run import run_task
from helpers import TEST_NET, records, run_cli

TINY = (*TEST_NET, "bench.input_size=16", "bench.burn_in=1", "bench.threads=1", "bench.log_every=0")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("bench=server", "bench.server.target_qps=0"), "bench.server.target_qps must be a number > 0, got 0"),
        (("bench=server", "bench.server.slo_ms=-5"), "bench.server.slo_ms must be a number > 0, got -5"),
        (("bench=server", "bench.server.max_batch=0"), "bench.server.max_batch must be a positive integer, got 0"),
        (("bench=server", "bench.server.max_wait_ms=-1"), "bench.server.max_wait_ms must be a number >= 0"),
        (("bench=server", "bench.server.qps_min=50", "bench.server.qps_max=10"), "bench.server.qps_min (50) must be below bench.server.qps_max (10)"),
        (("bench=server", "bench.mode=forward_backward"), "bench.mode must be forward"),
        (("bench=single_stream", "bench.batch_size=auto"), "bench.batch_size=auto searches the best batch of the offline scenario only"),
        (("bench=single_stream", "bench.batch_size=4"), "bench.batch_size must be 1, got 4"),
        (("bench.batch_size=auto",), "offline scenario only, not tf_book"),
        (("bench=offline", "bench.offline.max_memory_gb=0"), "bench.offline.max_memory_gb must be a number > 0"),
        (("bench=offline", "bench.offline.blocks=0"), "bench.offline.blocks must be a positive integer"),
        (("bench=single_stream", "bench.single_stream.min_queries=0"), "bench.single_stream.min_queries must be a positive integer"),
    ],
)
def test_bad_scenario_options_fail_before_any_work(compose_cfg, tmp_path: Path, overrides: tuple[str, ...],
                                                   message: str) -> None:
    record = run_task(compose_cfg(*TINY, *overrides), tmp_path)
    assert record["status"] == "error" and message in record["error"], record["error"]
    on_disk = read_record(tmp_path / "record.json")
    assert "load_avg_start" not in on_disk and "step_times_s" not in on_disk  # failed before the model was built


def test_run_py_unknown_scenario_is_one_line(tmp_path: Path) -> None:
    proc = run_cli(*TINY, "bench.scenario=batch", f"paths.results_dir={tmp_path}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "valid choices: tf_book, single_stream, offline, server" in proc.stderr


def test_single_stream_refuses_percentiles_its_queries_cannot_back(compose_cfg, tmp_path: Path, caplog, capsys) -> None:
    with caplog.at_level(logging.INFO, logger="bench.benchmark.latency"):
        record = run_task(compose_cfg(*TINY, "bench=single_stream", "bench.single_stream.min_queries=60",
                                    "bench.single_stream.min_duration_s=0"),
                          tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["scenario"] == "single_stream" and record["batch_size"] == 1 and record["queries"] == 60
    assert record["latency_p50_s"] <= record["latency_p90_s"] and len(record["step_times_s"]) == 60
    assert record["latency_p99_s"] is None and record["latency_p999_s"] is None
    assert "p99 not reported: 60 queries, it needs >= 459" in caplog.text
    assert "p99.9 not reported: 60 queries, it needs >= 4603" in caplog.text
    assert record["images_per_s"] == record["qps_achieved"] > 0 and record["gmacs_per_image"] > 0
    assert "single_stream: 60 queries" in capsys.readouterr().out


def test_single_stream_runs_until_its_minimum_duration(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*TINY, "bench=single_stream", "bench.single_stream.min_queries=1",
                                    "bench.single_stream.min_duration_s=0.5"),
                      tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["queries"] > 1 and record["duration_s"] >= 0.5
    assert sum(record["step_times_s"]) <= record["duration_s"] < 0.5 + max(record["step_times_s"]) + 0.1


def test_tf_book_records_carry_the_serving_fields_as_null(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*TINY, "bench.steps=3"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["scenario"] == "tf_book" and all(record[f] is None for f in SCENARIO_FIELDS)
    for key in ("load_avg_start", "load_avg_end", "noisy", "cpu_governor", "gpu_clock_sm_mhz", "energy_j",
                "energy_source"):
        assert key in record


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("single_stream", {"scenario": "single_stream", "batch_size": 1}),
     ("offline", {"scenario": "offline", "batch_size": "auto"}),
     ("server", {"scenario": "server", "server.search_qps": True})],
)
def test_presets(compose_cfg, preset: str, expected: dict) -> None:
    bench = compose_cfg(f"bench={preset}").bench
    assert {key: OmegaConf.select(bench, key) for key in expected} == expected


@pytest.mark.slow
def test_serving_experiment_is_one_multirun_of_the_three_scenarios(tmp_path: Path) -> None:
    proc = run_cli("experiment=serving_inception_v3", *TINY, "model=tiny_test", "bench.single_stream.min_queries=20",
                   "bench.single_stream.min_duration_s=0", "bench.server.min_queries=20", "bench.server.min_duration_s=0",
                   "bench.server.qps_min=100", "bench.server.qps_max=200", "bench.server.search_steps=1",
                   "bench.offline.max_batch_size=2", "bench.offline.blocks=1", "bench.offline.block_steps=1",
                   "report.after_sweep=false",
                   f"paths.results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    jobs = records(tmp_path / "multirun")
    assert sorted(r["scenario"] for r in jobs) == ["offline", "server", "single_stream"]
    assert all(r["status"] == "ok" and r["model"] == "tiny_test" for r in jobs)
    assert len({r["sweep_id"] for r in jobs}) == 1
