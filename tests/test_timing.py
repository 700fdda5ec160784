"""The timing protocol: statistics against hand-computed values, step accounting and the book's line."""
from __future__ import annotations

import math
import re

import pytest
import torch

from bench.benchmark.timing import book_line, summarize, time_steps


def test_summarize_matches_hand_computed_values() -> None:
    stats = summarize([0.1, 0.2, 0.3, 0.4], batch_size=8)
    assert stats["mean_s"] == pytest.approx(0.25)
    # population std, as the TF book: sqrt(mean(t^2) - mean(t)^2) = sqrt(0.075 - 0.0625)
    assert stats["std_s"] == pytest.approx(math.sqrt(0.0125))
    assert stats["median_s"] == pytest.approx(0.25)
    # linear interpolation between order statistics: 0.3 + 0.7 * (0.4 - 0.3)
    assert stats["p90_s"] == pytest.approx(0.37)
    assert stats["p99_s"] == pytest.approx(0.397)
    assert (stats["min_s"], stats["max_s"]) == (0.1, 0.4)
    assert stats["images_per_s"] == pytest.approx(32.0)


def test_summarize_of_one_step_and_of_none() -> None:
    assert summarize([0.5], batch_size=1)["std_s"] == 0.0
    with pytest.raises(ValueError):
        summarize([], batch_size=1)


def test_burn_in_steps_are_run_but_not_timed_and_lines_every_ten() -> None:
    calls: list[int] = []
    lines: list[str] = []
    durations = time_steps(lambda: calls.append(1), torch.device("cpu"), steps=25, burn_in=10, printer=lines.append)
    assert len(calls) == 35 and len(durations) == 25
    assert all(d >= 0 for d in durations)
    assert [re.search(r"step (\d+), duration = \d+\.\d{3}$", line).group(1) for line in lines] == ["0", "10", "20"]


def test_book_line_keeps_the_tensorflow_format() -> None:
    line = book_line("forward", 100, 0.1683, 0.0021)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: Forward across 100 steps, 0\.168 \+/- 0\.002 sec / batch", line)
    assert "Forward-backward across 10 steps" in book_line("forward_backward", 10, 1.0, 0.0)
