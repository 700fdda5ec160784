"""The NVML sampler of the timed window (bench/benchmark/nvml.py) on stand-in NVML readings: a CPU has no
NVML, so a scripted stand-in answers the few calls; the sampler's thread, summary and verdicts are the real ones."""
from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import pytest
import torch

from bench.benchmark import machine, nvml
from bench.job import energy
from bench.benchmark.nvml import GpuSampler, foreign_processes, neighbours, reason_names

CUDA = torch.device("cuda:0")  # a device object only: nothing here runs on a GPU
HW_THERMAL = 0x40
IDLE = 0x1


class ScriptedNVML(SimpleNamespace):
    """Answers sample k with reading k of each script (the last one repeats). The sampler reads at the window's
    start and end, so with scripts of two readings the outcome does not depend on how many samples its thread
    takes in between."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, sm: list[int], reasons: list[int] | None = None, processes: list[int] = (),
                 legacy_reasons_call: bool = False) -> None:
        super().__init__(sm=sm, reasons=reasons or [0], processes=list(processes), reads=0)
        if not legacy_reasons_call:  # drivers before 535 name it the throttle-reasons call
            self.nvmlDeviceGetCurrentClocksEventReasons = self._reasons

    def _at(self, script: list[int]) -> int:
        return script[min(self.reads, len(script) - 1)]

    def nvmlDeviceGetClockInfo(self, handle, clock):
        if clock == self.NVML_CLOCK_MEM:
            return 2619
        return self._at(self.sm)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 60 + self.reads

    def nvmlDeviceGetPowerUsage(self, handle):
        return 500_000  # mW

    def _reasons(self, handle):
        value = self._at(self.reasons)
        self.reads += 1  # the reasons are read last in a sample: the next sample reads the next line of the script
        return value

    nvmlDeviceGetCurrentClocksThrottleReasons = _reasons

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=pid, usedGpuMemory=512 * 2**20) for pid in self.processes]


def run_sampler(lib: ScriptedNVML, seconds: float = 0.0) -> dict:
    sampler = GpuSampler(lib, "handle", interval_s=0.005)
    with sampler:
        time.sleep(seconds)
    return sampler.figures()


def test_steady_clocks_are_not_throttled(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        figures = run_sampler(ScriptedNVML(sm=[1980]), seconds=0.2)
    assert figures["throttled"] is False and figures["throttle_reasons"] == []
    assert figures["gpu_samples"] >= 3  # start, the thread's, end
    assert figures["gpu_sm_clock_mhz_min"] == figures["gpu_sm_clock_mhz_max"] == 1980
    assert figures["gpu_mem_clock_mhz_median"] == 2619 and figures["gpu_power_w_mean"] == pytest.approx(500.0)
    assert figures["gpu_temperature_c_max"] >= 62 and figures["gpu_clock_reasons"] == []
    assert not caplog.records


def test_a_clock_drop_is_throttled_with_its_figures_and_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        figures = run_sampler(ScriptedNVML(sm=[1980, 1500], reasons=[0, 0x4]))
    assert figures["throttled"] is True
    assert figures["throttle_reasons"] == ["sm_clock_dropped 24% (1980 -> 1500 MHz)"]
    assert figures["gpu_clock_reasons"] == ["sw_power_cap"]  # seen, but not by itself throttling
    assert "the GPU throttled during the timed steps (sm_clock_dropped 24%" in caplog.text


def test_a_ramp_up_from_idle_and_an_idle_dip_are_not_drops() -> None:
    ramp = run_sampler(ScriptedNVML(sm=[345, 1980]))
    assert ramp["throttled"] is False and ramp["gpu_sm_clock_mhz_min"] == 345
    idle = run_sampler(ScriptedNVML(sm=[1980, 600], reasons=[0, IDLE]))
    assert idle["throttled"] is False and idle["gpu_clock_reasons"] == ["gpu_idle"]


def test_a_throttling_reason_bit_is_named() -> None:
    figures = run_sampler(ScriptedNVML(sm=[1980], reasons=[0, HW_THERMAL]))
    assert figures["throttled"] is True and figures["throttle_reasons"] == ["hw_thermal_slowdown"]
    assert reason_names(0x4 | 0x20 | 0x1000) == ["sw_power_cap", "sw_thermal_slowdown", "0x1000"]


def test_the_older_throttle_reasons_call_is_used_where_the_driver_lacks_the_new_one() -> None:
    lib = ScriptedNVML(sm=[1980], reasons=[0x80], legacy_reasons_call=True)  # a binding without the new name
    assert not hasattr(lib, "nvmlDeviceGetCurrentClocksEventReasons")
    assert run_sampler(lib)["throttle_reasons"] == ["hw_power_brake_slowdown"]

    def not_in_this_driver(handle):
        raise RuntimeError("NVMLError_FunctionNotFound")

    lib = ScriptedNVML(sm=[1980], reasons=[0x80], legacy_reasons_call=True)  # the name, but not in the driver
    lib.nvmlDeviceGetCurrentClocksEventReasons = not_in_this_driver
    assert run_sampler(lib)["throttle_reasons"] == ["hw_power_brake_slowdown"]


def test_foreign_processes_are_listed_and_warned_about(caplog) -> None:
    own = os.getpid()
    lib = ScriptedNVML(sm=[1980], processes=[own, 4242])
    assert foreign_processes(lib, "handle", own_context=True) == [{"pid": 4242, "used_memory_mb": 512.0}]
    # before this process has a CUDA context it cannot be on NVML's list: a process with our pid is another one
    assert [p["pid"] for p in foreign_processes(lib, "handle", own_context=False)] == [own, 4242]
    with caplog.at_level(logging.WARNING):
        found = neighbours(CUDA, ScriptedNVML(sm=[1980], processes=[4242]), "handle")["gpu_foreign_processes"]
        assert [p["pid"] for p in found] == [4242]
        alone = neighbours(CUDA, ScriptedNVML(sm=[1980]), "handle")  # alone on the card: no warning
        assert alone == {"gpu_foreign_processes": []}
    assert len(caplog.records) == 1 and "other processes are using this GPU (pids 4242)" in caplog.text


def test_the_record_gets_the_sampling_and_the_neighbours_through_machine(monkeypatch) -> None:
    lib = ScriptedNVML(sm=[1980], processes=[4242])
    monkeypatch.setattr(energy, "nvml", lambda: lib)
    monkeypatch.setattr(energy, "nvml_handle", lambda device: "handle")
    with machine.gpu_sampled(CUDA) as figures:
        pass
    assert figures["throttled"] is False and figures["gpu_samples"] >= 2
    assert machine.machine_at_start(CUDA, threads=10_000)["gpu_foreign_processes"][0]["pid"] == 4242


def test_no_nvml_means_null_fields_and_one_log_line(monkeypatch, caplog) -> None:
    monkeypatch.setattr(energy, "nvml", lambda: None)
    monkeypatch.setattr(nvml, "_said", set())
    with caplog.at_level(logging.INFO, logger="bench.benchmark.nvml"):
        for _ in range(2):
            with machine.gpu_sampled(CUDA) as figures:
                pass
            assert set(figures.values()) == {None}
    assert caplog.text.count("not sampled: NVML is not available here") == 1
    assert machine.machine_at_start(CUDA, threads=10_000)["gpu_foreign_processes"] is None
    with machine.gpu_sampled(torch.device("cpu")) as on_cpu:  # a CPU run: nothing to sample, nothing said
        pass
    assert set(on_cpu.values()) == {None} and caplog.text.count("NVML") == 1
