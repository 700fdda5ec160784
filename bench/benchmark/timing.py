"""Timing protocols: the TensorFlow book's per-step timing, and the offline scenario's block timing.

Book (``time_steps``): 10 burn-in steps, 100 timed steps, every step closed by a device synchronisation;
on CUDA each step is timed by CUDA events, and the event time is the one reported. Statistics follow the
book: mean and the population standard deviation, printed as
``<timestamp>: Forward across 100 steps, 0.168 +/- 0.002 sec / batch``.

Blocks (``time_blocks``): steps launched back to back and synchronised once per block, as a deployment
runs them, so the host can queue work ahead of the device; the wall clock spans the whole block.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import torch

from contracts.record import F

MODE_LABELS = {"forward": "Forward", "forward_backward": "Forward-backward"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    step: Callable[[], object],
    device: torch.device,
    steps: int,
    burn_in: int,
    log_every: int = 10,
    printer: Callable[[str], None] = print,
    window: contextlib.AbstractContextManager | None = None,
) -> list[float]:
    """Run ``burn_in`` untimed steps, then ``steps`` timed ones; return each timed step's seconds.

    ``window`` (e.g. an energy meter's) brackets the timed steps only.
    """
    for _ in range(burn_in):
        step()
    synchronize(device)
    with window or contextlib.nullcontext():
        return _timed_steps(step, device, steps, log_every, printer)


def _timed_steps(step: Callable[[], object], device: torch.device, steps: int, log_every: int,
                 printer: Callable[[str], None]) -> list[float]:
    durations: list[float] = []
    for i in range(steps):
        if device.type == "cuda":
            start_event = torch.cuda.Event(enable_timing=True)
            end_event = torch.cuda.Event(enable_timing=True)
            start_event.record()
            step()
            end_event.record()
            end_event.synchronize()
            duration = start_event.elapsed_time(end_event) / 1000.0
        else:
            start = time.perf_counter()
            step()
            duration = time.perf_counter() - start
        durations.append(duration)
        if log_every and i % log_every == 0:
            printer(f"{datetime.now()}: step {i}, duration = {duration:.3f}")
    return durations


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
