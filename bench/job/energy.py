"""Energy counters both task packages read: NVML's total energy of a GPU, RAPL's package counters of a CPU.

``bench.benchmark`` meters its timed windows with them and ``bench.training`` the training clock's windows
(bench/training/energy.py); neither task package may import the other, so the counters live here.

NVML comes through ``nvidia-ml-py`` (module ``pynvml``; the handle is matched by UUID); RAPL is read from
``/sys/class/powercap/intel-rapl:N/energy_uj`` (often root-only, absent in most VMs). Every read is guarded:
a counter the machine does not expose is ``None``, and a meter whose read fails loses the whole measurement
(``energy_note`` says why), never a part of it.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from contracts.record import Energy

log = logging.getLogger(__name__)

POWERCAP = Path("/sys/class/powercap")
# NVML's energy counter updates every 20-100 ms: a shorter window would be mostly quantisation.
MIN_ENERGY_WINDOW_S = 2.0


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


def guarded(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, or None where it raises (one unsupported query must not lose the others)."""
    try:
        return call(*args)
    except Exception:  # old GPU, MIG, permissions, a vanished sysfs file ...
        return None


def nvml_handle(device: torch.device) -> Any:
    """The NVML handle of a CUDA device, matched by UUID (CUDA and NVML may number devices differently)."""
    lib = nvml()
    if lib is None or device.type != "cuda":
        return None
    uuid = guarded(lambda: str(torch.cuda.get_device_properties(device).uuid))
    handle = guarded(lib.nvmlDeviceGetHandleByUUID, f"GPU-{uuid}") if uuid else None
    return handle if handle is not None else guarded(lib.nvmlDeviceGetHandleByIndex, device.index or 0)


def rapl_packages(root: Path = POWERCAP) -> list[Path]:
    """Top-level RAPL domains (one per package; their subdomains are parts of them, not added)."""
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


class Counter:
    """Monotonic energy counters in joules, one per domain: NVML's total energy (mJ), or each RAPL package (uJ).

    ``per_node``: the counter covers the whole node (a RAPL package holds every process on it), so a job of
    several processes on one node reads it once (its local rank 0); a per-device counter (NVML) is read by
    every rank, each for its own GPU.
    """

    def __init__(self, source: str, read: Callable[[], list[float]], wraps_j: list[float | None],
                 per_node: bool = False) -> None:
        self.source, self.read, self.wraps_j, self.per_node = source, read, wraps_j, per_node

    def joules_between(self, start: list[float], end: list[float]) -> float:
        """Energy between two reads; a RAPL counter that wrapped (at max_energy_range_uj) is unwrapped."""
        return sum(e - s if e >= s or wrap is None else e + wrap - s for s, e, wrap in zip(start, end, self.wraps_j))


def nvml_counter(device: torch.device) -> Counter | None:
    handle = nvml_handle(device)
    if handle is None:
        return None
    lib = nvml()
    if guarded(lib.nvmlDeviceGetTotalEnergyConsumption, handle) is None:  # pre-Volta GPUs have no counter
        return None
    return Counter("nvml", lambda: [lib.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3], [None])


def rapl_counter(root: Path = POWERCAP) -> Counter | None:
    packages = rapl_packages(root)

    def read() -> list[float]:
        return [int((p / "energy_uj").read_text()) / 1e6 for p in packages]

    try:
        wraps: list[float | None] = [int((p / "max_energy_range_uj").read_text()) / 1e6 for p in packages]
        read()
    except (OSError, ValueError):
        return None
    return Counter("rapl", read, wraps, per_node=True) if packages else None


def unavailable(device: torch.device, powercap: Path | None = None) -> str:
    """Why a device has no counter here, in a few words (the record's ``energy_note``)."""
    if device.type == "cuda":
        return "not measured: NVML's total-energy counter is not readable here"
    return f"not measured: RAPL under {powercap or POWERCAP} is not readable here (it often needs root)"


_said_unavailable: set[str] = set()


def energy_counter(device: torch.device, powercap: Path | None = None) -> Counter | None:
    """The device's counter: NVML's on a CUDA device, RAPL's packages on a CPU; None (said once) where unreadable."""
    counter = nvml_counter(device) if device.type == "cuda" else rapl_counter(powercap or POWERCAP)
    if counter is None and device.type not in _said_unavailable:  # said once per process and device kind
        _said_unavailable.add(device.type)
        log.info("energy %s", unavailable(device, powercap))
    return counter


class EnergyMeter:
    """Energy over timed windows (``with meter.window(): ...``, or ``start()`` / ``stop()``); windows add up.

    A failed read loses the whole measurement: the meter drops its counter and ``note`` says so.
    """

    def __init__(self, device: torch.device, powercap: Path | None = None, counter: Counter | None = None) -> None:
        self.counter = counter if counter is not None else energy_counter(device, powercap)
        self.source = self.counter.source if self.counter is not None else None
        self.note: str | None = None if self.counter is not None else unavailable(device, powercap)
        self.joules = 0.0
        self.seconds = 0.0
        self._open: tuple[list[float], float] | None = None  # the open window's first read and its time

    def _fail(self, what: str) -> None:
        log.warning("energy not measured: the %s counter's read failed %s; the whole measurement is dropped",
                    self.source, what)
        self.counter, self._open = None, None
        self.note = f"not measured: a read of the {self.source} counter failed {what}"

    def start(self) -> None:
        """Opens a window (the work inside it ends synchronised with the device: every timer here does)."""
        if self.counter is None or self._open is not None:
            return
        reading = guarded(self.counter.read)
        if reading is None:
            self._fail("at a window's start")
            return
        self._open = (reading, time.perf_counter())

    def _so_far(self) -> tuple[float, float] | None:
        """The open window's joules and seconds up to now (None: the read failed, and the meter with it)."""
        if self.counter is None or self._open is None:
            return 0.0, 0.0
        reading = guarded(self.counter.read)
        if reading is None:
            self._fail("at a window's end")
            return None
        return self.counter.joules_between(self._open[0], reading), time.perf_counter() - self._open[1]

    def stop(self) -> None:
        """Closes the open window, adding its energy; a failed read drops the measurement."""
        found = self._so_far()
        if found is not None and self._open is not None:
            self.joules += found[0]
            self.seconds += found[1]
        self._open = None

    def measured_j(self) -> float | None:
        """The joules so far, the open window's included (None: no counter, or a read failed)."""
        found = self._so_far()
        return None if found is None or self.counter is None else self.joules + found[0]

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        self.start()
        yield
        self.stop()

    def figures(self, images: int) -> dict[str, Any]:
        """The record's ``Energy`` fields over the windows: joules, mean power, joules per image, source."""
        if self.counter is None:
            return asdict(Energy(energy_source=self.source, energy_note=self.note))
        if self.seconds < MIN_ENERGY_WINDOW_S:
            return asdict(Energy(energy_source=self.source, energy_note=short_window(self.seconds)))
        return asdict(Energy(energy_j=self.joules, power_w=self.joules / self.seconds,
                             energy_j_per_image=self.joules / images if images else None, energy_source=self.source))


def short_window(seconds: float) -> str:
    """The note (and one log line) for a window too short for the counter's resolution."""
    note = (f"not reported: the timed window ({seconds:.2f} s) is under {MIN_ENERGY_WINDOW_S:.0f} s, "
            "the counter's resolution would dominate")
    log.info("energy %s", note)
    return note
