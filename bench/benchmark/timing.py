"""The timing protocol of the TensorFlow book (10 burn-in steps, 100 timed steps), done honestly.

Every step is closed by a device synchronisation; on CUDA each step is timed by CUDA events as well as
by the wall clock, and the event time is the one reported. Statistics follow the book: mean and the
population standard deviation, printed as ``<timestamp>: Forward across 100 steps, 0.168 +/- 0.002 sec / batch``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import torch

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
) -> list[float]:
    """Run ``burn_in`` untimed steps, then ``steps`` timed ones; return each timed step's seconds."""
    for _ in range(burn_in):
        step()
    synchronize(device)
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


def summarize(durations: Sequence[float], batch_size: int) -> dict[str, float]:
    """Mean and population std (as the TF book computes them), order statistics and images/s."""
    if not durations:
        raise ValueError("no timed steps to summarise")
    times = np.asarray(durations, dtype=np.float64)
    mean = float(times.mean())
    return {
        "mean_s": mean,
        "std_s": float(times.std(ddof=0)),  # population std: the book's sqrt(E[t^2] - E[t]^2)
        "median_s": float(np.percentile(times, 50)),
        "p90_s": float(np.percentile(times, 90)),
        "p99_s": float(np.percentile(times, 99)),
        "min_s": float(times.min()),
        "max_s": float(times.max()),
        "images_per_s": batch_size / mean,
    }


def book_line(mode: str, steps: int, mean_s: float, std_s: float) -> str:
    """The TensorFlow book's closing line, e.g. ``... Forward across 100 steps, 0.168 +/- 0.002 sec / batch``."""
    return f"{datetime.now()}: {MODE_LABELS[mode]} across {steps} steps, {mean_s:.3f} +/- {std_s:.3f} sec / batch"
