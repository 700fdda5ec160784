"""The timing protocols: statistics against hand-computed values, step accounting, the book's line, block timing,
and the wall clock beside a device clock (CUDA events on a GPU; here a stand-in device clock is injected)."""
from __future__ import annotations

import contextlib
import math
import re
import statistics
import time

import pytest
import torch
from torch import nn

from bench.benchmark.timing import (book_line, clock_agreement, step_clocks, summarize, synchronize, time_blocks,
                                    time_steps, time_steps_both)
from bench.benchmark.workload import make_step


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


def test_block_timer_synchronises_exactly_once_per_block() -> None:
    events: list[str] = []

    def counting_sync(device: torch.device) -> None:  # wraps the real synchronisation, counting each call
        events.append("sync")
        synchronize(device)

    blocks = time_blocks(lambda: events.append("step"), torch.device("cpu"), blocks=4, block_steps=3, burn_in=2,
                         sync=counting_sync)
    assert len(blocks) == 4 and all(t >= 0 for t in blocks)
    # burn-in, one sync; then each block: its steps back to back, one sync
    assert events == ["step"] * 2 + ["sync"] + (["step"] * 3 + ["sync"]) * 4


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread suffers least from other processes on a shared machine
    yield
    torch.set_num_threads(threads)


def test_block_timing_agrees_with_the_per_step_protocol_on_cpu(one_thread) -> None:
    # On CPU the host cannot run ahead of the device, so both protocols time the same work; rounds
    # alternate so that a change of machine load hits both alike.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1)).eval()
    x = torch.randn(4, 3, 32, 32)
    step = make_step(model, x, "forward", contextlib.nullcontext())
    cpu = torch.device("cpu")
    per_step, per_block = [], []
    for _ in range(7):
        per_step.append(summarize(time_steps(step, cpu, 20, 2, log_every=0), 1)["mean_s"])
        per_block.append(sum(time_blocks(step, cpu, blocks=2, block_steps=10, burn_in=2)) / 20)
    assert statistics.median(per_block) == pytest.approx(statistics.median(per_step), rel=0.25)


def test_on_cpu_the_wall_clock_is_the_only_clock() -> None:
    timed = time_steps_both(lambda: None, torch.device("cpu"), steps=4, burn_in=1, log_every=0)
    assert timed.clock == "wall" and timed.wall is None and len(timed.times) == 4
    assert step_clocks(timed.clock, timed.times, timed.wall) == {
        "step_clock": "wall", "step_wall_times_s": None, "wall_vs_event_median": None}


class HalfStepClock:
    """A device clock that sees half of each step (as if the host spent the other half launching it): the
    timing loop's two-clock path runs for real, only the device side is a stand-in."""

    name = "cuda_event"

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def start(self) -> float:
        self.calls.append("start")
        return time.perf_counter()

    def stop(self, started: float) -> float:
        self.calls.append("stop")
        return (time.perf_counter() - started) / 2


def test_two_clocks_time_every_step_and_their_agreement_is_a_figure(capsys) -> None:
    calls: list[str] = []
    step = lambda: (calls.append("step"), time.sleep(0.002))  # noqa: E731
    timed = time_steps_both(step, torch.device("cpu"), steps=5, burn_in=2, log_every=0, clock=HalfStepClock(calls))
    assert calls == ["step"] * 2 + ["start", "step", "stop"] * 5  # burn-in untimed; each step inside both clocks
    assert timed.clock == "cuda_event" and len(timed.times) == len(timed.wall) == 5
    assert all(w > t > 0 for t, w in zip(timed.times, timed.wall))  # step_times_s stay the device clock's
    fields = step_clocks(timed.clock, timed.times, timed.wall)
    assert fields["step_wall_times_s"] == timed.wall and fields["wall_vs_event_median"] == pytest.approx(1.0, abs=0.2)
    assert "wall clock vs cuda_event: +" in capsys.readouterr().out


def test_clock_agreement_is_the_median_relative_difference() -> None:
    assert clock_agreement([1.0, 2.0, 4.0], [1.01, 2.04, 4.0]) == pytest.approx(0.01)
    assert clock_agreement([1.0], None) is None


def test_a_tf_book_record_carries_both_clocks_across_repeats(compose_cfg, tmp_path, monkeypatch) -> None:
    """The real job, with the stand-in device clock where CUDA events would be: what a GPU record holds."""
    from bench.benchmark import timing
    from helpers import TEST_NET, TINY_BENCH
    from run import run_task

    monkeypatch.setattr(timing, "device_clock", lambda device: HalfStepClock([]))
    record = run_task(compose_cfg(*TEST_NET, *TINY_BENCH, "bench.repeats=2"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["step_clock"] == "cuda_event" and len(record["step_wall_times_s"]) == len(record["step_times_s"]) == 6
    assert all(w > t for t, w in zip(record["step_times_s"], record["step_wall_times_s"]))
    assert record["wall_vs_event_median"] == pytest.approx(1.0, abs=0.3)
