"""What the machine was doing: load, CPU governor, GPU clocks/power/temperature (energy: ``bench.job.energy``).

On a GPU the timed work is also sampled by NVML (``gpu_sampled``: clocks, power, throttling; see
bench/benchmark/nvml.py) and the other processes on the card at the start are listed. Energy over the timed
windows is ``bench.job.energy``'s ``EnergyMeter`` (NVML's total energy, RAPL), shared with the training task.

Every read is guarded: a figure the machine does not expose is ``None`` in the record, never a crash.
GPU facts come from NVML through ``nvidia-ml-py`` (module ``pynvml``, initialised once by ``bench.job.energy``).
A run that starts with a load average above the threads it will use is flagged ``noisy``: its figures are
not to be trusted blindly.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench.benchmark.nvml import neighbours, sampler_for
from bench.job import energy
from bench.job.energy import guarded
from contracts.record import F, GpuSampling, GpuState, names

log = logging.getLogger(__name__)

GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
GPU_FIELDS = names(GpuState)


def load_average() -> float | None:
    """The 1-minute load average (runnable + uninterruptible tasks), or None where the OS has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cpu_governor() -> str | None:
    try:
        return GOVERNOR.read_text().strip()
    except OSError:
        return None


def is_noisy(load: float | None, threads: int) -> bool:
    """True (and one warning line) when the machine is already busier than the threads this run will use."""
    if load is None or load <= threads:
        return False
    log.warning("busy machine: load average %.2f is above the %d thread(s) this run uses; figures are marked noisy",
                load, threads)
    return True


def gpu_state(device: torch.device) -> dict[str, Any]:
    """Clocks (MHz), enforced power limit (W), temperature (C) and persistence mode; None where unreadable."""
    state: dict[str, Any] = dict.fromkeys(GPU_FIELDS)
    handle = energy.nvml_handle(device)
    if handle is None:
        return state
    lib = energy.nvml()
    power_mw = guarded(lib.nvmlDeviceGetEnforcedPowerLimit, handle)
    persistence = guarded(lib.nvmlDeviceGetPersistenceMode, handle)
    state.update(
        gpu_clock_sm_mhz=guarded(lib.nvmlDeviceGetClockInfo, handle, lib.NVML_CLOCK_SM),
        gpu_clock_mem_mhz=guarded(lib.nvmlDeviceGetClockInfo, handle, lib.NVML_CLOCK_MEM),
        gpu_power_limit_w=power_mw / 1000 if power_mw is not None else None,
        gpu_temperature_c=guarded(lib.nvmlDeviceGetTemperature, handle, lib.NVML_TEMPERATURE_GPU),
        gpu_persistence_mode=persistence == lib.NVML_FEATURE_ENABLED if persistence is not None else None,
    )
    return state


def machine_at_start(device: torch.device, threads: int) -> dict[str, Any]:
    """Load, governor, and on a GPU the other processes using it (``gpu_foreign_processes``: a list, None off GPU)."""
    load = load_average()
    return {F.load_avg_start: load, F.noisy: is_noisy(load, threads), F.cpu_governor: cpu_governor(),
            **neighbours(device, energy.nvml(), energy.nvml_handle(device))}


@contextlib.contextmanager
def gpu_sampled(device: torch.device) -> Iterator[dict[str, Any]]:
    """NVML sampled over the block (``nvml.GpuSampler``); the dict yielded gets the summary on exit, its
    fields all None off a GPU or without NVML."""
    found = asdict(GpuSampling())
    sampler = sampler_for(device, energy.nvml(), energy.nvml_handle(device))
    if sampler is None:
        yield found
        return
    with sampler:
        yield found
    found.update(sampler.figures())


def machine_at_end(device: torch.device) -> dict[str, Any]:
    """Load at the end and the GPU's state right after the timed work (clocks still at their working level)."""
    return {F.load_avg_end: load_average(), **gpu_state(device)}
