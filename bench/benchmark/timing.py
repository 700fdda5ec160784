"""Timing protocols: the TensorFlow book's per-step timing, and the offline scenario's block timing.

Book (``time_steps``): 10 burn-in steps, 100 timed steps, every step closed by a device synchronisation;
on CUDA each step is timed by CUDA events, and the event time is the one reported; the wall clock is read
beside it on every step (``time_steps_both``), so the record can show that the two agree. Statistics follow the
book: mean and the population standard deviation, printed as
``<timestamp>: Forward across 100 steps, 0.168 +/- 0.002 sec / batch``.

Blocks (``time_blocks``): steps launched back to back and synchronised once per block, as a deployment
runs them, so the host can queue work ahead of the device; the wall clock spans the whole block.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import torch

from contracts.record import F, StepClocks

MODE_LABELS = {"forward": "Forward", "forward_backward": "Forward-backward"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class CudaEventClock:
    """The device's own clock: a pair of CUDA events around a step, read once the end event completes."""

    name = "cuda_event"

    def start(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def stop(self, started: torch.cuda.Event) -> float:
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        end.synchronize()  # waits for the step on the device: the wall clock read after it covers the same work
        return started.elapsed_time(end) / 1000.0


class DeviceClock(Protocol):
    """A clock on the device's stream: ``stop`` waits for the step and returns its seconds."""

    name: str

    def start(self) -> Any: ...

    def stop(self, started: Any) -> float: ...


@dataclass
class StepTimes:
    """Each timed step's seconds by the device clock (``times``: CUDA events on a GPU, the wall clock on a
    CPU, where it is the only clock) and by the wall clock beside it (``wall``: None where it is the same)."""

    times: list[float]
    wall: list[float] | None
    clock: str  # "cuda_event" or "wall"


def device_clock(device: torch.device) -> DeviceClock | None:
    return CudaEventClock() if device.type == "cuda" else None


def time_steps(
    step: Callable[[], object],
    device: torch.device,
    steps: int,
    burn_in: int,
    log_every: int = 10,
    printer: Callable[[str], None] = print,
    window: contextlib.AbstractContextManager | None = None,
) -> list[float]:
    """Run ``burn_in`` untimed steps, then ``steps`` timed ones; return each timed step's seconds
    (CUDA events on a GPU). ``window`` (e.g. an energy meter's) brackets the timed steps only."""
    return time_steps_both(step, device, steps, burn_in, log_every, printer, window).times


def time_steps_both(
    step: Callable[[], object],
    device: torch.device,
    steps: int,
    burn_in: int,
    log_every: int = 10,
    printer: Callable[[str], None] = print,
    window: contextlib.AbstractContextManager | None = None,
    clock: DeviceClock | None | str = "auto",
) -> StepTimes:
    """``time_steps`` with the wall clock read beside the device clock on every step.

    ``clock``: ``auto`` picks CUDA events on a GPU and none on a CPU; a test injects its own pair.
    """
    device_timer = device_clock(device) if clock == "auto" else clock
    for _ in range(burn_in):
        step()
    synchronize(device)
    with window or contextlib.nullcontext():
        return _timed_steps(step, device, steps, log_every, printer, device_timer)


def _timed_steps(step: Callable[[], object], device: torch.device, steps: int, log_every: int,
                 printer: Callable[[str], None], clock: DeviceClock | None) -> StepTimes:
    times: list[float] = []
    walls: list[float] = []
    for i in range(steps):
        wall_start = time.perf_counter()
        if clock is not None:
            started = clock.start()
            step()
            duration = clock.stop(started)
            walls.append(time.perf_counter() - wall_start)
        else:
            step()
            synchronize(device)
            duration = time.perf_counter() - wall_start
        times.append(duration)
        if log_every and i % log_every == 0:
            printer(f"{datetime.now()}: step {i}, duration = {duration:.3f}")
    return StepTimes(times, walls if clock is not None else None, clock.name if clock is not None else "wall")


def clock_agreement(times: Sequence[float], wall: Sequence[float] | None) -> float | None:
    """Median over steps of wall / device-clock time - 1 (None with one clock): what the device clock leaves
    out (launch and synchronisation latency) as a share of the step; 0.01 is 1%."""
    if not wall:
        return None
    return float(np.median([w / t - 1 for t, w in zip(times, wall) if t > 0]))


def step_clocks(clock: str, times: Sequence[float], wall: Sequence[float] | None) -> dict[str, Any]:
    """The clock fields of a record; with two clocks, one line says how far the wall clock is from the events."""
    agreement = clock_agreement(times, wall)
    if agreement is not None:
        print(f"wall clock vs {clock}: {agreement:+.2%} (median over {len(times)} steps)")
    return asdict(StepClocks(clock, list(wall) if wall is not None else None, agreement))


def time_blocks(
    step: Callable[[], object],
    device: torch.device,
    blocks: int,
    block_steps: int,
    burn_in: int,
    sync: Callable[[torch.device], None] = synchronize,
    window: contextlib.AbstractContextManager | None = None,
) -> list[float]:
    """Run ``burn_in`` untimed steps, then ``blocks`` blocks of ``block_steps`` steps; return each block's seconds.

    Exactly one synchronisation closes each block (and one the burn-in, so the first block starts on an
    idle device); nothing inside a block waits for the device.
    """
    for _ in range(burn_in):
        step()
    sync(device)
    durations: list[float] = []
    with window or contextlib.nullcontext():
        for _ in range(blocks):
            start = time.perf_counter()
            for _ in range(block_steps):
                step()
            sync(device)
            durations.append(time.perf_counter() - start)
    return durations


def summarize(durations: Sequence[float], batch_size: int) -> dict[str, float]:
    """Mean and population std (as the TF book computes them), order statistics and images/s."""
    if not durations:
        raise ValueError("no timed steps to summarise")
    times = np.asarray(durations, dtype=np.float64)
    mean = float(times.mean())
    return {
        F.mean_s: mean,
        F.std_s: float(times.std(ddof=0)),  # population std: the book's sqrt(E[t^2] - E[t]^2)
        F.median_s: float(np.percentile(times, 50)),
        F.p90_s: float(np.percentile(times, 90)),
        F.p99_s: float(np.percentile(times, 99)),
        F.min_s: float(times.min()),
        F.max_s: float(times.max()),
        F.images_per_s: batch_size / mean,
    }


def book_line(mode: str, steps: int, mean_s: float, std_s: float) -> str:
    """The TensorFlow book's closing line, e.g. ``... Forward across 100 steps, 0.168 +/- 0.002 sec / batch``."""
    return f"{datetime.now()}: {MODE_LABELS[mode]} across {steps} steps, {mean_s:.3f} +/- {std_s:.3f} sec / batch"
