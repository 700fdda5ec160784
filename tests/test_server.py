"""The server scenario: the scheduler against queueing theory, the batcher's rules, the QPS search, the job."""
from __future__ import annotations

import os
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


class FakeClock:
    """Time that passes only when the scheduler sleeps or the stand-in model serves: the batcher's logic, exactly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps += 1
        assert self.sleeps < 1_000_000, "the scheduler keeps sleeping without serving"
        self.now += seconds

    def model(self, service_s: float):
        """A stand-in model of fixed service time: serving any batch takes ``service_s`` of this clock."""
        def serve(n: int) -> None:
            self.now += service_s
        return serve


def fake_schedule(service_s: float, arrivals_s: np.ndarray, max_batch: int, max_wait_s: float):
    fake = FakeClock()
    return run_schedule(fake.model(service_s), arrivals_s, max_batch, max_wait_s, clock=fake.clock, sleep=fake.sleep)


def test_scheduler_matches_the_md1_queue() -> None:
    # M/D/1, S = 10 ms, offered 50 QPS: rho = 0.5, mean latency S + rho S / (2 (1 - rho)) = 15 ms, and a query finds
    # the worker idle (latency exactly S) with probability 1 - rho. 20,000 queries: the sample mean's spread is 0.7%
    # (its std over 200 seeds of 500 queries is 4.6%, / sqrt(40)), so 3% is over 4 standard deviations.
    service, qps = 0.010, 50.0
    rho = qps * service
    expected = service + rho * service / (2 * (1 - rho))
    run = fake_schedule(service, poisson_arrivals(20_000, qps, seed=0), max_batch=1, max_wait_s=0.0)
    assert float(np.mean(run.latencies)) == pytest.approx(expected, rel=0.03)
    assert float(np.mean(np.isclose(run.latencies, service, rtol=0, atol=1e-9))) == pytest.approx(1 - rho, abs=0.02)
    assert run.qps_achieved == pytest.approx(qps, rel=0.01)
    assert set(run.batches) == {1} and len(run.batches) == 20_000


def test_the_real_scheduler_adds_only_what_late_wake_ups_explain() -> None:
    """Real time is the thing under test here: the same arrivals, really slept, against the fake clock's queue.

    Without batching, a real sleep only ever ends late and lateness carries down the queue, so each query's real
    latency is at least its ideal one. How much more is set by how late this machine's sleeps end (measured here,
    through the same seam): a service late by d raises the M/D/1 mean by dW/dS * d = 2.5 d at rho = 0.5, and queries
    that find the worker idle wait for a late wake-up too; measured 3.9-4.2 d at load 24 on 2 cores (d 0.5-0.8 ms).
    The bound, 6 d + 0.5 ms for the loop's own work, fails a scheduler that oversleeps on its own.
    """
    service, qps = 0.010, 50.0
    arrivals = poisson_arrivals(200, qps, seed=0)  # 4 s of arrivals
    ideal = fake_schedule(service, arrivals, max_batch=1, max_wait_s=0.0)
    lateness: list[float] = []

    def sleep(seconds: float) -> None:  # a real sleep; how late it ended is noted
        start = time.perf_counter()
        time.sleep(seconds)
        lateness.append(time.perf_counter() - start - seconds)

    real = run_schedule(lambda n: sleep(service), arrivals, max_batch=1, max_wait_s=0.0, sleep=sleep)
    added = real.latencies - ideal.latencies
    assert added.min() >= -1e-6, added.min()
    assert added.mean() <= 6 * float(np.mean(lateness)) + 0.0005, (added.mean(), np.mean(lateness))
    assert real.qps_achieved == pytest.approx(ideal.qps_achieved, rel=0.10) and real.batches == ideal.batches


def test_queueing_counts_in_latency() -> None:
    run = fake_schedule(0.02, np.zeros(3), max_batch=1, max_wait_s=0.0)
    assert run.latencies == pytest.approx([0.02, 0.04, 0.06], abs=1e-9)


def test_a_lone_query_waits_max_wait_then_goes_alone() -> None:
    run = fake_schedule(0.005, np.array([0.0, 0.2]), max_batch=4, max_wait_s=0.03)
    assert run.batches == [1, 1]
    assert run.latencies == pytest.approx([0.035, 0.005], abs=1e-9)  # the last query waits for nobody


def test_a_query_arriving_within_max_wait_joins_the_waiting_one() -> None:
    run = fake_schedule(0.005, np.array([0.0, 0.01, 0.2]), max_batch=4, max_wait_s=0.03)
    assert run.batches == [2, 1]  # the second came 10 ms into the first one's 30 ms wait
    assert run.latencies == pytest.approx([0.035, 0.025, 0.005], abs=1e-9)


def test_a_full_batch_leaves_at_once() -> None:
    run = fake_schedule(0.005, np.zeros(6), max_batch=4, max_wait_s=1.0)
    assert run.batches == [4, 2]  # then the last two: no more queries are due, so no waiting
    assert run.latencies == pytest.approx([0.005] * 4 + [0.010] * 2, abs=1e-9)


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


def test_search_steps_down_from_a_bottom_that_misses_then_bisects_below_it() -> None:
    # the H200's server probe: a quarter of the capacity missed the SLO, and the search had nowhere to go
    result = search_qps(lambda q: figures_at(q, limit=3.0), qps_min=10.0, qps_max=100.0, steps=3, down_steps=3)
    offered = [p["qps_offered"] for p in result["qps_probes"]]
    assert offered[:3] == [10.0, 5.0, 2.5] and len(offered) == 6  # no probe of the top: 5 already missed
    assert 2.5 <= result["max_qps_at_slo"] <= 3.0 and result["slo_met"] is True
    never = search_qps(lambda q: figures_at(q, limit=1.0), qps_min=10.0, qps_max=100.0, steps=3, down_steps=3)
    assert [p["qps_offered"] for p in never["qps_probes"]] == [10.0, 5.0, 2.5, 1.25]
    assert never["max_qps_at_slo"] is None and never["qps_offered"] == 1.25


def test_search_whose_top_meets_the_slo_reports_the_top() -> None:
    result = search_qps(lambda q: figures_at(q, limit=1e9), qps_min=10.0, qps_max=100.0, steps=5)
    assert result["max_qps_at_slo"] == 100.0 and len(result["qps_probes"]) == 2


def test_server_job_at_a_target_rate(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*SERVER_JOB, "bench.server.search_qps=false", "bench.server.target_qps=150"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["scenario"] == "server" and record["qps_offered"] == 150
    assert record["queries"] == 500  # bench.server.min_queries; more than the 459 its p99 needs
    assert record["latency_p50_s"] <= record["latency_p99_s"] <= record["duration_s"] and record["latency_p999_s"] is None
    assert record["slo_s"] == 0.1 and record["slo_met"] == (record["latency_p99_s"] <= 0.1)
    assert record["qps_achieved"] == pytest.approx(150, rel=0.5) and record["images_per_s"] == record["qps_achieved"]
    assert record["max_qps_at_slo"] is None and record["qps_probes"] is None
    assert record["achieved_tflops"] > 0 and record["load_avg_start"] == pytest.approx(os.getloadavg()[0], abs=2.0)


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
