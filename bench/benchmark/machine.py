"""What the machine was doing: load, CPU governor, GPU clocks/power/temperature, and energy over a window.

On a GPU the timed work is also sampled by NVML (``gpu_sampled``: clocks, power, throttling; see
bench/benchmark/nvml.py) and the other processes on the card at the start are listed.

Every read is guarded: a figure the machine does not expose is ``None`` in the record, never a crash.
GPU facts come from NVML through ``nvidia-ml-py`` (module ``pynvml``); CPU energy from RAPL
(``/sys/class/powercap/intel-rapl:N/energy_uj``, often root-only). A run that starts with a load
average above the threads it will use is flagged ``noisy``: its figures are not to be trusted blindly.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from bench.benchmark.nvml import neighbours, sampler_for
from contracts.record import Energy, F, GpuSampling, GpuState, names

log = logging.getLogger(__name__)

GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
POWERCAP = Path("/sys/class/powercap")
GPU_FIELDS = names(GpuState)
# NVML's energy counter updates every 20-100 ms: a shorter window would be mostly quantisation.
MIN_ENERGY_WINDOW_S = 2.0


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


@lru_cache(maxsize=1)
def nvml() -> ModuleType | None:
    """The initialised ``pynvml`` module, or None (not installed, no driver, no GPU)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, driver errors ...
        log.debug("NVML unavailable: %s", exc)
        return None


def _guarded(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:  # one unsupported query (old GPU, MIG, permissions) must not lose the others
        return None


def nvml_handle(device: torch.device) -> Any:
    """The NVML handle of a CUDA device, matched by UUID (CUDA and NVML may number devices differently)."""
    lib = nvml()
    if lib is None or device.type != "cuda":
        return None
    uuid = _guarded(lambda: str(torch.cuda.get_device_properties(device).uuid))
    handle = _guarded(lib.nvmlDeviceGetHandleByUUID, f"GPU-{uuid}") if uuid else None
    return handle if handle is not None else _guarded(lib.nvmlDeviceGetHandleByIndex, device.index or 0)


def gpu_state(device: torch.device) -> dict[str, Any]:
    """Clocks (MHz), enforced power limit (W), temperature (C) and persistence mode; None where unreadable."""
    state: dict[str, Any] = dict.fromkeys(GPU_FIELDS)
    handle = nvml_handle(device)
    if handle is None:
        return state
    lib = nvml()
    power_mw = _guarded(lib.nvmlDeviceGetEnforcedPowerLimit, handle)
    persistence = _guarded(lib.nvmlDeviceGetPersistenceMode, handle)
    state.update(
        gpu_clock_sm_mhz=_guarded(lib.nvmlDeviceGetClockInfo, handle, lib.NVML_CLOCK_SM),
        gpu_clock_mem_mhz=_guarded(lib.nvmlDeviceGetClockInfo, handle, lib.NVML_CLOCK_MEM),
        gpu_power_limit_w=power_mw / 1000 if power_mw is not None else None,
        gpu_temperature_c=_guarded(lib.nvmlDeviceGetTemperature, handle, lib.NVML_TEMPERATURE_GPU),
        gpu_persistence_mode=persistence == lib.NVML_FEATURE_ENABLED if persistence is not None else None,
    )
    return state


def machine_at_start(device: torch.device, threads: int) -> dict[str, Any]:
    """Load, governor, and on a GPU the other processes using it (``gpu_foreign_processes``: a list, None off GPU)."""
    load = load_average()
    return {F.load_avg_start: load, F.noisy: is_noisy(load, threads), F.cpu_governor: cpu_governor(),
            **neighbours(device, nvml(), nvml_handle(device))}


@contextlib.contextmanager
def gpu_sampled(device: torch.device) -> Iterator[dict[str, Any]]:
    """NVML sampled over the block (``nvml.GpuSampler``); the dict yielded gets the summary on exit, its
    fields all None off a GPU or without NVML."""
    found = asdict(GpuSampling())
    sampler = sampler_for(device, nvml(), nvml_handle(device))
    if sampler is None:
        yield found
        return
    with sampler:
        yield found
    found.update(sampler.figures())


def machine_at_end(device: torch.device) -> dict[str, Any]:
    """Load at the end and the GPU's state right after the timed work (clocks still at their working level)."""
    return {F.load_avg_end: load_average(), **gpu_state(device)}


# --- energy -------------------------------------------------------------------------------------------

def rapl_packages(root: Path = POWERCAP) -> list[Path]:
    """Top-level RAPL domains (one per package; their subdomains are parts of them, not added)."""
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


class _Counter:
    """Monotonic energy counters in joules, one per domain: NVML's total energy (mJ), or each RAPL package (uJ)."""

    def __init__(self, source: str, read: Callable[[], list[float]], wraps_j: list[float | None]) -> None:
        self.source, self.read, self.wraps_j = source, read, wraps_j

    def joules_between(self, start: list[float], end: list[float]) -> float:
        """Energy between two reads; a RAPL counter that wrapped (at max_energy_range_uj) is unwrapped."""
        return sum(e - s if e >= s or wrap is None else e + wrap - s for s, e, wrap in zip(start, end, self.wraps_j))


def _nvml_counter(device: torch.device) -> _Counter | None:
    handle = nvml_handle(device)
    if handle is None:
        return None
    lib = nvml()
    if _guarded(lib.nvmlDeviceGetTotalEnergyConsumption, handle) is None:  # pre-Volta GPUs have no counter
        return None
    return _Counter("nvml", lambda: [lib.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3], [None])


def _rapl_counter(root: Path = POWERCAP) -> _Counter | None:
    packages = rapl_packages(root)

    def read() -> list[float]:
        return [int((p / "energy_uj").read_text()) / 1e6 for p in packages]

    try:
        wraps: list[float | None] = [int((p / "max_energy_range_uj").read_text()) / 1e6 for p in packages]
        read()
    except (OSError, ValueError):
        return None
    return _Counter("rapl", read, wraps) if packages else None


_said_unavailable: set[str] = set()


def energy_counter(device: torch.device, powercap: Path = POWERCAP) -> _Counter | None:
    counter = _nvml_counter(device) if device.type == "cuda" else _rapl_counter(powercap)
    if counter is None and device.type not in _said_unavailable:  # said once per process and device kind
        _said_unavailable.add(device.type)
        where = "NVML's total-energy counter" if device.type == "cuda" else f"RAPL under {powercap} (readable as root)"
        log.info("energy not measured: %s is not readable here", where)
    return counter


class EnergyMeter:
    """Energy over the timed windows of one measurement (``with meter.window(): ...``, windows add up)."""

    def __init__(self, device: torch.device, powercap: Path = POWERCAP) -> None:
        self.counter = energy_counter(device, powercap)
        self.joules = 0.0
        self.seconds = 0.0

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        """Brackets timed work that ends synchronised with the device (every timer here does)."""
        if self.counter is None:
            yield
            return
        start_j, start_s = _guarded(self.counter.read), time.perf_counter()
        yield
        end_j, end_s = _guarded(self.counter.read), time.perf_counter()
        if start_j is None or end_j is None:
            self.counter = None  # a failed read loses the whole measurement, never half of it
            return
        self.joules += self.counter.joules_between(start_j, end_j)
        self.seconds += end_s - start_s

    def figures(self, images: int) -> dict[str, Any]:
        if self.counter is None:
            return asdict(Energy())
        if self.seconds < MIN_ENERGY_WINDOW_S:
            log.info("energy not reported: the timed window (%.2f s) is under %.0f s, the counter's resolution "
                     "would dominate", self.seconds, MIN_ENERGY_WINDOW_S)
            return asdict(Energy(energy_source=self.counter.source))
        return asdict(Energy(energy_j=self.joules, power_w=self.joules / self.seconds,
                             energy_j_per_image=self.joules / images if images else None,
                             energy_source=self.counter.source))
