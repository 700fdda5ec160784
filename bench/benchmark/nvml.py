"""Throttle- and neighbour-aware GPU timing: NVML sampled during the timed work, foreign processes at start.

``GpuSampler`` reads the SM and memory clocks, temperature, power draw and the clock-event (throttle)
reasons at the start of the window, every ``SAMPLE_INTERVAL_S`` on a background thread, and at its end
(so even a short window has two samples). The record gets their summary and a verdict:

- ``throttled: true`` when a throttling reason was seen (thermal slowdown, power brake, hardware slowdown:
  ``THROTTLE_REASONS``), or when the SM clock of a busy sample fell more than ``CLOCK_DROP`` below the
  highest clock before it (the highest, not the first: a GPU ramping up from idle during the burn-in has
  not dropped). Samples with the ``gpu_idle`` reason are left out of the clock rule: a GPU waiting between
  a server's queries lowers its clocks without throttling. ``sw_power_cap`` alone is not throttling (a
  card at full load runs at its power limit); the clock it costs shows in the clock rule.
- ``gpu_foreign_processes``: the compute processes on the same GPU at the job's start other than this
  one (NVML's view), each a neighbour whose kernels share the SMs and the memory bandwidth.

The NVML calls release the GIL (ctypes), so sampling every 100 ms costs the timed loop nothing
measurable. Reason bits are NVML's ``nvmlClocksEventReason*`` constants (nvml.h).
"""
from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from contracts.record import GpuNeighbours, GpuSampling

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 0.1
CLOCK_DROP = 0.10  # a busy SM clock more than 10% below the highest clock before it: throttled
# nvml.h's nvmlClocksEventReason* bits (older drivers: nvmlClocksThrottleReason*, the same values)
REASONS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
THROTTLE_REASONS = frozenset({"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"})


def reason_names(mask: int) -> list[str]:
    """NVML's reason bitmask as names; an unknown bit is kept as its hex value."""
    names = [name for bit, name in REASONS.items() if mask & bit]
    unknown = mask & ~sum(REASONS)
    return names + ([f"0x{unknown:x}"] if unknown else [])


def _read(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:  # one unsupported query (MIG, an old GPU, permissions) must not lose the others
        return None


def clock_reasons(lib: Any, handle: Any) -> int | None:
    """The current clock-event reasons bitmask: the newer call, else the older throttle-reasons one (a binding or
    a driver from before 535 lacks the first)."""
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        call = getattr(lib, name, None)
        if call is not None and (mask := _read(call, handle)) is not None:
            return mask
    return None


@dataclass
class Sample:
    at_s: float
    sm_mhz: float | None
    mem_mhz: float | None
    temperature_c: float | None
    power_w: float | None
    reasons: int | None


class GpuSampler:
    """``with GpuSampler(lib, handle) as s: <timed work>``, then ``s.figures()`` (a real NVML, or a stand-in's)."""

    def __init__(self, lib: Any, handle: Any, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.lib, self.handle, self.interval_s = lib, handle, interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        lib, h = self.lib, self.handle
        power_mw = _read(lib.nvmlDeviceGetPowerUsage, h)
        self.samples.append(Sample(
            time.monotonic(), _read(lib.nvmlDeviceGetClockInfo, h, lib.NVML_CLOCK_SM),
            _read(lib.nvmlDeviceGetClockInfo, h, lib.NVML_CLOCK_MEM),
            _read(lib.nvmlDeviceGetTemperature, h, lib.NVML_TEMPERATURE_GPU),
            power_mw / 1000 if power_mw is not None else None, clock_reasons(lib, h)))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> GpuSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def figures(self) -> dict[str, Any]:
        """The summary of the samples, the throttle verdict, and one warning line when throttled."""
        def values(name: str) -> list[float]:
            return [v for s in self.samples if (v := getattr(s, name)) is not None]

        sm, mem, temps, power = values("sm_mhz"), values("mem_mhz"), values("temperature_c"), values("power_w")
        seen = sorted({n for s in self.samples if s.reasons is not None for n in reason_names(s.reasons)})
        why = [n for n in seen if n in THROTTLE_REASONS]
        drop = clock_drop(self.samples)
        if drop is not None:
            peak, low = drop
            why.append(f"sm_clock_dropped {1 - low / peak:.0%} ({peak:.0f} -> {low:.0f} MHz)")
        if why:
            log.warning("the GPU throttled during the timed steps (%s): figures are marked throttled", "; ".join(why))
        return asdict(GpuSampling(
            len(self.samples), min(sm, default=None), statistics.median(sm) if sm else None, max(sm, default=None),
            statistics.median(mem) if mem else None, max(temps, default=None),
            statistics.fmean(power) if power else None, seen, bool(why), why))


def clock_drop(samples: list[Sample], threshold: float = CLOCK_DROP) -> tuple[float, float] | None:
    """(highest clock before, lowest clock after) of the deepest busy drop beyond ``threshold``, else None."""
    peak, worst = 0.0, None
    for s in samples:
        if s.sm_mhz is None or (s.reasons is not None and s.reasons & 0x1):  # unreadable, or idle: not throttling
            continue
        peak = max(peak, s.sm_mhz)
        if s.sm_mhz < (1 - threshold) * peak and (worst is None or s.sm_mhz / peak < worst[1] / worst[0]):
            worst = (peak, s.sm_mhz)
    return worst


def foreign_processes(lib: Any, handle: Any, own_context: bool, pid: int | None = None) -> list[dict[str, Any]]:
    """Compute processes on the GPU other than this one: ``{"pid", "used_memory_mb"}`` each.

    Before this process has a CUDA context it cannot be on the list, so every process on it is foreign; after,
    its own pid is left out (in a container NVML may show host pids: the list then names this process too).
    """
    own = os.getpid() if pid is None else pid
    procs = _read(lib.nvmlDeviceGetComputeRunningProcesses, handle) or []
    return [{"pid": p.pid, "used_memory_mb": p.usedGpuMemory / 2**20 if p.usedGpuMemory is not None else None}
            for p in procs if not (own_context and p.pid == own)]


_said: set[str] = set()


def say_once(key: str, message: str, *args: Any) -> None:
    if key not in _said:
        _said.add(key)
        log.info(message, *args)


def sampler_for(device: torch.device, lib: Any, handle: Any) -> GpuSampler | None:
    """A sampler for a CUDA device when NVML answers; None (and one log line per process) when it does not."""
    if device.type != "cuda":
        return None
    if lib is None or handle is None:
        say_once("sampling", "GPU clocks, power and throttling not sampled: NVML is not available here "
                             "(nvidia-ml-py, or the driver's libnvidia-ml); the record's gpu_* fields are null")
        return None
    return GpuSampler(lib, handle)


def neighbours(device: torch.device, lib: Any, handle: Any) -> dict[str, Any]:
    """The foreign processes on a CUDA device at the job's start (None when unknowable), with a warning if any."""
    if device.type != "cuda" or lib is None or handle is None:
        return asdict(GpuNeighbours())
    found = foreign_processes(lib, handle, own_context=torch.cuda.is_initialized())
    if found:
        log.warning("other processes are using this GPU (pids %s): they share its SMs and memory bandwidth; "
                    "figures may be low", ", ".join(str(p["pid"]) for p in found))
    return asdict(GpuNeighbours(found))
