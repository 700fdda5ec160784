"""The server scenario: Poisson arrivals, a dynamic batcher, latency = completion - arrival.

Queries arrive as a seeded Poisson process at the offered rate. One worker serves
them: when it is free it takes the waiting queries, up to ``max_batch``, as soon as the batch is full,
the oldest waiting query has waited ``max_wait``, or no more queries are due; otherwise it sleeps until
the next arrival or that deadline. A query that arrives while the worker is busy waits, and its latency
counts that wait (queueing included), as MLPerf LoadGen measures from the scheduled arrival time.

``search_qps`` bisects the offered rate for the highest one whose p99 meets the SLO; every probe runs
long enough for its p99 (see ``latency.min_queries``).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.benchmark.latency import latency_figures, latency_line, min_queries
from contracts.record import F

log = logging.getLogger(__name__)
LEAD_S = 0.005  # the first query is due this long after the schedule is made


@dataclass
class ServerRun:
    """One run of the schedule: per-query latencies, the batch sizes served, the achieved rate."""

    latencies: np.ndarray
    batches: list[int]
    duration_s: float  # first arrival to last completion

    @property
    def qps_achieved(self) -> float:
        return len(self.latencies) / self.duration_s

    def figures(self, qps_offered: float, slo_s: float) -> dict[str, Any]:
        stats = latency_figures(self.latencies, what=f"server at {qps_offered:.2f} QPS")
        p99 = stats[F.latency_p99_s]
        return {**stats, F.qps_offered: qps_offered, F.qps_achieved: self.qps_achieved, F.duration_s: self.duration_s,
                F.slo_s: slo_s, F.slo_met: None if p99 is None else p99 <= slo_s,
                F.mean_batch: float(np.mean(self.batches))}


def poisson_arrivals(queries: int, qps: float, seed: int) -> np.ndarray:
    """Arrival times (s) of ``queries`` queries of a Poisson process at ``qps``, given that they all fall in
    the window ``[0, queries / qps]``: so the offered rate is exactly ``qps``, not a sample's rate.

    Given its count, a Poisson process's arrivals are uniform order statistics over the window; the
    normalised cumulative sums of ``queries + 1`` exponential draws are exactly those. Probes with the
    same count share the draws (common random numbers) and differ by rate alone.
    """
    gaps = np.random.default_rng(seed).standard_exponential(queries + 1)
    return np.cumsum(gaps)[:queries] / gaps.sum() * (queries / qps)


def run_schedule(
    serve: Callable[[int], None],
    arrivals_s: np.ndarray,
    max_batch: int,
    max_wait_s: float,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> ServerRun:
    """Serve queries due at ``arrivals_s`` (seconds from the start, ascending) with a dynamic batcher."""
    n = len(arrivals_s)
    due = clock() + LEAD_S + np.asarray(arrivals_s, dtype=np.float64)
    done = np.empty(n)
    batches: list[int] = []
    head = 0  # the oldest query not yet served
    while head < n:
        now = clock()
        if due[head] > now:
            sleep(due[head] - now)
            continue
        waiting = int(np.searchsorted(due, now, side="right")) - head
        more_due = head + waiting < n
        if waiting < max_batch and more_due and now < due[head] + max_wait_s:
            sleep(max(0.0, min(due[head] + max_wait_s, due[head + waiting]) - now))
            continue
        take = min(waiting, max_batch)
        serve(take)
        done[head:head + take] = clock()
        batches.append(take)
        head += take
    return ServerRun(done - due, batches, float(done[-1] - due[0]))


def probe_queries(qps: float, min_queries_: int, min_duration_s: float) -> int:
    """Queries for a run at ``qps``: enough for the p99 the SLO is judged on, ``min_queries`` and the duration."""
    return max(min_queries(99.0), min_queries_, math.ceil(qps * min_duration_s))


def run_at(serve: Callable[[int], None], qps: float, queries: int, seed: int, max_batch: int, max_wait_s: float,
           slo_s: float) -> dict[str, Any]:
    """One server run at an offered ``qps``; prints one line and returns its figures."""
    arrivals = poisson_arrivals(queries, qps, seed)
    figures = run_schedule(serve, arrivals, max_batch, max_wait_s).figures(qps, slo_s)
    verdict = {True: "meets", False: "misses", None: "cannot judge"}[figures[F.slo_met]]
    print(f"server at {qps:.2f} QPS offered: {figures[F.qps_achieved]:.2f} achieved, {queries} queries, "
          f"mean batch {figures[F.mean_batch]:.2f}, {latency_line(figures)}; {verdict} the p99 SLO of {slo_s:.4f} s")
    return figures


def probe_summary(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in (F.qps_offered, F.qps_achieved, F.latency_p50_s, F.latency_p99_s, F.slo_met)}


def search_qps(probe: Callable[[float], dict[str, Any]], qps_min: float, qps_max: float, steps: int,
               down_steps: int = 0) -> dict[str, Any]:
    """Bisect the offered rate in [qps_min, qps_max] for the highest whose p99 meets the SLO.

    The lowest rate is probed first. If it misses, the rate is halved up to ``down_steps`` times until one
    meets the SLO (the range's bottom was a guess: a quarter of the capacity missed a 15 ms p99 on the H200);
    if none does, the search stops and reports the lowest probe (``slo_met`` false, ``max_qps_at_slo`` null).
    If the highest meets it, that is the answer (the range's top). Else ``steps`` bisections between the
    highest passing and the lowest failing rate. The record's latency figures are those of the reported probe.
    """
    probes: list[dict[str, Any]] = []

    def run(qps: float) -> dict[str, Any]:
        figures = probe(qps)
        probes.append(probe_summary(figures))
        return figures

    best, halved = run(qps_min), 0
    while not best[F.slo_met] and halved < down_steps:
        qps_max, qps_min, halved = qps_min, qps_min / 2, halved + 1  # the rate that missed tops the range now
        log.info("the p99 SLO is missed at %.2f QPS: probing %.2f", qps_max, qps_min)
        best = run(qps_min)
    if not best[F.slo_met]:
        log.info("the p99 SLO is missed even at the lowest probe, %.2f QPS: no rate in the searched range meets it",
                 qps_min)
        return {**best, F.max_qps_at_slo: None, F.qps_probes: probes}
    if not halved:
        top = run(qps_max)
        if top[F.slo_met]:
            log.info("the p99 SLO holds at the top of the searched range, %.2f QPS (bench.server.qps_max)", qps_max)
            return {**top, F.max_qps_at_slo: qps_max, F.qps_probes: probes}
    low, high = qps_min, qps_max
    for _ in range(steps):
        mid = (low + high) / 2
        figures = run(mid)
        if figures[F.slo_met]:
            low, best = mid, figures
        else:
            high = mid
    return {**best, F.max_qps_at_slo: best[F.qps_offered], F.qps_probes: probes}
