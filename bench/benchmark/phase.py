"""What the loader and profile phases share: re-deriving a record's timed figures from their own steps."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.benchmark.timing import summarize


def retimed(result: dict[str, Any], durations: Sequence[float], batch_size: int,
            images_per_s: float | None = None) -> dict[str, Any]:
    """``result``'s timed figures taken from ``durations`` instead; achieved TFLOP/s and utilisation follow.

    ``images_per_s`` overrides ``batch_size / mean`` where steps saw fewer images than a full batch.
    """
    stats = summarize(durations, batch_size)
    if images_per_s is not None:
        stats["images_per_s"] = images_per_s
    achieved = result["gflops_per_image_step"] * stats["images_per_s"] / 1e3
    peak = result["peak_tflops"]
    # the scenario's wall-clock times describe its own steps, not these (timed by the same device clock)
    return {**stats, "step_times_s": list(durations), "repeat_means_s": [stats["mean_s"]], "repeat_std_s": None,
            "step_wall_times_s": None, "wall_vs_event_median": None,
            "achieved_tflops": achieved, "utilization": achieved / peak if peak else None}
