"""What the loader and profile phases share: re-deriving a record's timed figures from their own steps."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.benchmark.timing import summarize
from contracts.record import F


def retimed(result: dict[str, Any], durations: Sequence[float], batch_size: int,
            images_per_s: float | None = None) -> dict[str, Any]:
    """``result``'s timed figures taken from ``durations`` instead; achieved TFLOP/s and utilisation follow.

    ``images_per_s`` overrides ``batch_size / mean`` where steps saw fewer images than a full batch.
    """
    stats = summarize(durations, batch_size)
    if images_per_s is not None:
        stats[F.images_per_s] = images_per_s
    achieved = result[F.gflops_per_image_step] * stats[F.images_per_s] / 1e3
    peak = result[F.peak_tflops]
    # the scenario's wall-clock times describe its own steps, not these (timed by the same device clock)
    return {**stats, F.step_times_s: list(durations), F.repeat_means_s: [stats[F.mean_s]], F.repeat_std_s: None,
            F.step_wall_times_s: None, F.wall_vs_event_median: None,
            F.achieved_tflops: achieved, F.utilization: achieved / peak if peak else None}
