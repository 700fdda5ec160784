"""The server scenario: the scheduler against queueing theory, the batcher's rules, the QPS search, the job."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.benchmark.server import poisson_arrivals, run_schedule, search_qps
from run import run_task
from helpers import TEST_NET

SERVER_JOB = (*TEST_NET, "bench=server", "bench.input_size=16", "bench.burn_in=1", "bench.threads=1",
              "bench.server.min_duration_s=0")


def sleeper(seconds: float):
    """A stand-in model of fixed service time: serving any batch takes ``seconds``."""
    def serve(n: int) -> None:
        time.sleep(seconds)
    return serve


def test_scheduler_matches_the_md1_queue() -> None:
    # M/D/1, S = 10 ms, offered 50 QPS: rho = 0.5, mean latency S + rho S / (2 (1 - rho)) = 15 ms.
    service, qps = 0.010, 50.0
    rho = qps * service
    expected = service + rho * service / (2 * (1 - rho))
    run = run_schedule(sleeper(service), poisson_arrivals(500, qps, seed=0), max_batch=1, max_wait_s=0.0)
    assert float(np.mean(run.latencies)) == pytest.approx(expected, rel=0.20)
    assert run.qps_achieved == pytest.approx(qps, rel=0.10)
    assert set(run.batches) == {1} and len(run.batches) == 500


def test_queueing_counts_in_latency() -> None:
    run = run_schedule(sleeper(0.02), np.zeros(3), max_batch=1, max_wait_s=0.0)
    assert run.latencies == pytest.approx([0.02, 0.04, 0.06], abs=0.008)


def test_a_lone_query_waits_max_wait_then_goes_alone() -> None:
    run = run_schedule(sleeper(0.005), np.array([0.0, 0.2]), max_batch=4, max_wait_s=0.03)
    assert run.batches == [1, 1]
    assert run.latencies == pytest.approx([0.035, 0.005], abs=0.008)  # the last query waits for nobody


def test_a_full_batch_leaves_at_once() -> None:
    run = run_schedule(sleeper(0.005), np.zeros(6), max_batch=4, max_wait_s=1.0)
    assert run.batches == [4, 2]  # then the last two: no more queries are due, so no waiting
    assert run.latencies == pytest.approx([0.005] * 4 + [0.010] * 2, abs=0.008)


def test_poisson_arrivals_offer_exactly_the_rate_with_exponential_gaps() -> None:
    arrivals = poisson_arrivals(20_000, qps=200.0, seed=3)
    assert np.all(np.diff(arrivals) >= 0) and 0 <= arrivals[0] and arrivals[-1] <= 20_000 / 200.0
    gaps = np.diff(arrivals)
    assert gaps.mean() == pytest.approx(1 / 200.0, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)  # exponential: coefficient of variation 1
    assert np.array_equal(arrivals, poisson_arrivals(20_000, qps=200.0, seed=3))
    assert not np.array_equal(arrivals, poisson_arrivals(20_000, qps=200.0, seed=4))


def figures_at(qps: float, limit: float) -> dict[str, Any]:
    """A probe whose p99 meets the SLO up to ``limit`` QPS (what the search must find)."""
    p99 = 0.01 if qps <= limit else 0.5
    return {"qps_offered": qps, "qps_achieved": qps, "latency_p50_s": p99 / 2, "latency_p99_s": p99,
            "slo_met": p99 <= 0.1}


def test_search_bisects_to_the_highest_rate_that_meets_the_slo() -> None:
    result = search_qps(lambda q: figures_at(q, limit=70.0), qps_min=10.0, qps_max=100.0, steps=5)
    offered = [p["qps_offered"] for p in result["qps_probes"]]
    assert offered[:2] == [10.0, 100.0] and len(offered) == 7
    assert 70.0 - 90.0 / 2**5 <= result["max_qps_at_slo"] <= 70.0
    assert result["qps_offered"] == result["max_qps_at_slo"] and result["slo_met"] is True
    assert all(p["slo_met"] == (p["qps_offered"] <= 70.0) for p in result["qps_probes"])


def test_search_that_never_meets_the_slo_reports_the_lowest_probe() -> None:
    result = search_qps(lambda q: figures_at(q, limit=1.0), qps_min=10.0, qps_max=100.0, steps=5)
    assert result["slo_met"] is False and result["max_qps_at_slo"] is None
    assert [p["qps_offered"] for p in result["qps_probes"]] == [10.0] and result["qps_offered"] == 10.0


def test_search_whose_top_meets_the_slo_reports_the_top() -> None:
    result = search_qps(lambda q: figures_at(q, limit=1e9), qps_min=10.0, qps_max=100.0, steps=5)
    assert result["max_qps_at_slo"] == 100.0 and len(result["qps_probes"]) == 2


def test_server_job_at_a_target_rate(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*SERVER_JOB, "bench.server.search_qps=false", "bench.server.target_qps=150"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["scenario"] == "server" and record["qps_offered"] == 150
    assert record["queries"] == 500  # bench.server.min_queries; more than the 459 its p99 needs
    assert record["latency_p99_s"] is not None and record["latency_p999_s"] is None
    assert record["slo_s"] == 0.1 and record["slo_met"] == (record["latency_p99_s"] <= 0.1)
    assert record["qps_achieved"] == pytest.approx(150, rel=0.5) and record["images_per_s"] == record["qps_achieved"]
    assert record["max_qps_at_slo"] is None and record["qps_probes"] is None
    assert record["achieved_tflops"] > 0 and record["load_avg_start"] is not None


def test_server_search_that_never_meets_the_slo_is_a_record_not_a_crash(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*SERVER_JOB, "bench.server.slo_ms=0.001", "bench.server.qps_min=200", "bench.server.qps_max=400"),
                      tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["slo_met"] is False and record["max_qps_at_slo"] is None
    assert len(record["qps_probes"]) == 1 and record["qps_offered"] == 200
    assert record["latency_p99_s"] == record["qps_probes"][0]["latency_p99_s"] > 0.000001


def test_a_qps_min_above_capacity_searches_above_it(compose_cfg, tmp_path: Path) -> None:
    # 500 queries offered at a million QPS all wait at once; a 10 s budget still holds, so the top is probed
    record = run_task(compose_cfg(*SERVER_JOB, "bench.server.qps_min=1000000", "bench.server.slo_ms=10000"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert [p["qps_offered"] for p in record["qps_probes"]] == [1e6, 2e6] and record["max_qps_at_slo"] == 2e6
