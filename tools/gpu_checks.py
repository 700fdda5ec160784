"""Measuring aids of the GPU suite (tools/gpu_suite.py) that the harness itself does not have.

- ``paired_step_times``: CUDA-event and wall-clock time of the same steps, to check that the two agree
  once the device is synchronised (the harness records the event times only);
- ``tf32``: the TF32 switches (the harness has no option for them: torch's defaults run fp32 convolutions
  on TF32 tensor cores and fp32 matmuls in full fp32);
- ``compile_counter``: graphs compiled and graph breaks during a compiled job (a mode that re-traces shows);
- ``gpu_state``: clocks, power limit, temperature from NVML (guarded: none of it is required);
- ``gpu_slug``: the folder name of a GPU under docs/results/.
"""
from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch


def paired_step_times(step: Callable[[], object], device: torch.device, steps: int, burn_in: int
                      ) -> tuple[list[float] | None, list[float]]:
    """(device-clock seconds or None on CPU, wall seconds) of each of ``steps`` synchronised steps.

    Wall time spans launch to the end of the synchronisation; the CUDA events bracket the same step on
    the stream, so the two differ only by launch and synchronisation latency.
    """
    cuda = device.type == "cuda"
    for _ in range(burn_in):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    events: list[float] = []
    walls: list[float] = []
    for _ in range(steps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            wall_start = time.perf_counter()
            start.record()
            step()
            end.record()
            end.synchronize()
            walls.append(time.perf_counter() - wall_start)
            events.append(start.elapsed_time(end) / 1000.0)
        else:
            wall_start = time.perf_counter()
            step()
            walls.append(time.perf_counter() - wall_start)
    return (events if cuda else None), walls


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 on (or off) for cuDNN convolutions and cuBLAS matmuls, restored afterwards.

    Uses the flags the harness reads (``torch.backends.cudnn.allow_tf32`` decides its peak precision).
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def tf32_state() -> dict[str, bool]:
    return {"tf32_conv": torch.backends.cudnn.allow_tf32, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark}


@contextlib.contextmanager
def compile_counter(reset: bool = True) -> Iterator[dict[str, int]]:
    """Count Dynamo graphs and graph breaks inside the block (filled in on exit).

    ``reset`` starts from a fresh Dynamo cache, as a new process would: compiled jobs in one process
    would otherwise share guards and cache entries, and past Dynamo's recompile limit run eagerly.
    """
    import torch._dynamo
    from torch._dynamo.utils import counters

    if reset:
        torch._dynamo.reset()
    graphs = counters["stats"]["unique_graphs"]
    breaks = sum(counters["graph_break"].values())
    found: dict[str, int] = {}
    try:
        yield found
    finally:
        found["graphs_compiled"] = counters["stats"]["unique_graphs"] - graphs
        found["graph_breaks"] = sum(counters["graph_break"].values()) - breaks


def gpu_state(device: torch.device) -> dict[str, Any]:
    """What NVML says of the card now (clocks, power limit, temperature, persistence); {} on CPU.

    Read only: the suite never changes a card's settings. Any NVML failure is reported, not raised.
    """
    if device.type != "cuda":
        return {}
    try:
        import pynvml as nv

        nv.nvmlInit()
        try:
            h = nv.nvmlDeviceGetHandleByIndex(device.index or 0)
            return {
                "gpu_clock_sm_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
                "gpu_clock_mem_mhz": nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
                "gpu_clock_sm_max_mhz": nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM),
                "gpu_power_limit_w": nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000,
                "gpu_temperature_c": nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
                "gpu_persistence_mode": bool(nv.nvmlDeviceGetPersistenceMode(h)),
                "gpu_driver": nv.nvmlSystemGetDriverVersion(),
            }
        finally:
            nv.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - a missing library or a refused query must not stop the suite
        return {"nvml_error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def gpu_slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``: the results folder of a device."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"
