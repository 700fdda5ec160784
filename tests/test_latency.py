"""Percentile honesty: how many queries each reported percentile needs, and the refusal below it."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from bench.benchmark.latency import CONFIDENCE, latency_figures, latency_line, min_queries


@pytest.mark.parametrize(("percentile", "queries"), [(50, 7), (90, 44), (99, 459), (99.9, 4603)])
def test_queries_needed_per_percentile(percentile: float, queries: int) -> None:
    # The smallest n whose run bounds the percentile with 99% confidence: 1 - (p/100)^n >= 0.99.
    assert min_queries(percentile) == queries
    assert 1 - (percentile / 100) ** queries >= CONFIDENCE > 1 - (percentile / 100) ** (queries - 1)


def test_percentiles_below_their_count_are_null_and_say_why(caplog) -> None:
    latencies = np.linspace(0.010, 0.020, 500)
    with caplog.at_level(logging.INFO, logger="bench.benchmark.latency"):
        figures = latency_figures(latencies, what="test latency")
    assert figures["queries"] == 500
    assert figures["latency_p50_s"] == pytest.approx(np.percentile(latencies, 50))
    assert figures["latency_p99_s"] == pytest.approx(np.percentile(latencies, 99))
    assert figures["latency_p999_s"] is None
    assert figures["latency_mean_s"] == pytest.approx(0.015) and figures["latency_std_s"] > 0
    (line,) = caplog.messages
    assert line == "test latency p99.9 not reported: 500 queries, it needs >= 4603 (LoadGen's bound at 99% confidence)"
    assert latency_line(figures).endswith("p99 0.0199 s, p99.9 n/a")


def test_a_hundred_queries_back_no_p99() -> None:
    figures = latency_figures([0.01] * 100)
    assert figures["latency_p90_s"] == pytest.approx(0.01) and figures["latency_p99_s"] is None
