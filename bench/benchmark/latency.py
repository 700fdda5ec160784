"""Per-query latency figures, with a percentile reported only when enough queries back it.

The rule is MLPerf Inference LoadGen's early-stopping bound (``loadgen/early_stopping.cc``,
``MinPassingQueriesFinder``) with no query over the estimate: the p-th percentile of a run of ``n``
independent queries is bounded from above by the run, at confidence ``c``, only when
``1 - (p/100)^n >= c``, that is ``n >= ceil(ln(1 - c) / ln(p/100))``. With LoadGen's ``c = 0.99``:

    p50: 7 queries    p90: 44    p99: 459    p99.9: 4603

Below its count a percentile is ``null`` in the record and one log line says why; a p99.9 is never
printed from 500 queries.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from contracts.record import F

log = logging.getLogger(__name__)

CONFIDENCE = 0.99  # LoadGen's early-stopping confidence
PERCENTILES = {F.latency_p50_s: 50.0, F.latency_p90_s: 90.0, F.latency_p99_s: 99.0, F.latency_p999_s: 99.9}


def min_queries(percentile: float, confidence: float = CONFIDENCE) -> int:
    """Fewest queries whose run bounds the ``percentile`` with ``confidence`` (LoadGen, no overlatency query)."""
    return math.ceil(math.log(1 - confidence) / math.log(percentile / 100))


def label(percentile: float) -> str:
    return f"p{percentile:g}"


def latency_figures(latencies: Sequence[float], what: str = "latency") -> dict[str, float | int | None]:
    """Mean, std, count and the percentiles the sample can back (the others null, each refusal logged)."""
    times = np.asarray(latencies, dtype=np.float64)
    if times.size == 0:
        raise ValueError("no latencies to summarise")
    figures: dict[str, float | int | None] = {
        F.queries: int(times.size),
        F.latency_mean_s: float(times.mean()),
        F.latency_std_s: float(times.std(ddof=0)),
    }
    for key, percentile in PERCENTILES.items():
        need = min_queries(percentile)
        if times.size >= need:
            figures[key] = float(np.percentile(times, percentile))
        else:
            figures[key] = None
            log.info("%s %s not reported: %d queries, it needs >= %d (LoadGen's bound at %g%% confidence)",
                     what, label(percentile), times.size, need, CONFIDENCE * 100)
    return figures


def latency_line(figures: dict[str, float | int | None]) -> str:
    """``p50 0.0213 s, p90 ..., p99 n/a`` for the printed summary."""
    parts = []
    for key, percentile in PERCENTILES.items():
        value = figures[key]
        parts.append(f"{label(percentile)} {value:.4f} s" if value is not None else f"{label(percentile)} n/a")
    return ", ".join(parts)
