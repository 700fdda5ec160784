"""Machine state and energy: the noisy flag, NVML lookups (a stand-in NVML module: lookups only, no
timing), RAPL counters in a stand-in sysfs tree, and what is said when a figure cannot be had."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.benchmark import machine
from bench.benchmark.machine import gpu_state, is_noisy, machine_at_end, machine_at_start
from bench.job import energy
from bench.job.energy import EnergyMeter

CUDA = torch.device("cuda:0")  # a device object only: nothing here runs on a GPU


def test_busy_machine_is_flagged_with_one_warning_line(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert is_noisy(3.5, threads=2) is True
    assert len(caplog.records) == 1 and "load average 3.50 is above the 2 thread(s)" in caplog.text
    caplog.clear()
    assert is_noisy(1.5, threads=2) is False and is_noisy(None, threads=1) is False
    assert not caplog.records


def test_every_record_gets_the_load_at_start_and_end() -> None:
    start = machine_at_start(torch.device("cpu"), threads=10_000)
    assert start["load_avg_start"] == pytest.approx(os.getloadavg()[0], abs=2.0)
    assert start["noisy"] is False and "cpu_governor" in start
    assert start["gpu_foreign_processes"] is None  # not a GPU: no neighbours to know of
    end = machine_at_end(torch.device("cpu"))
    assert end["load_avg_end"] == pytest.approx(os.getloadavg()[0], abs=2.0)
    assert all(end[field] is None for field in machine.GPU_FIELDS)  # no NVML on a CPU run


class StandInNVML(SimpleNamespace):
    """The few pynvml names the harness uses; one query can be made to fail as an old GPU's would."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU, NVML_FEATURE_ENABLED = 1, 2, 0, 1

    def __init__(self, failing: str = "", energy_mj: list[int] | None = None) -> None:
        super().__init__(failing=failing, energy_mj=list(energy_mj or [0]))

    def _query(self, name: str, value):
        if name == self.failing:
            raise RuntimeError(f"NVMLError_NotSupported: {name}")
        return value

    def nvmlDeviceGetHandleByUUID(self, uuid):
        raise RuntimeError("no such UUID")  # falls back to the index

    def nvmlDeviceGetHandleByIndex(self, index):
        return f"handle{index}"

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return self._query("clock", {1: 1980, 2: 2619}[clock])

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return self._query("power", 700_000)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return self._query("temperature", 41)

    def nvmlDeviceGetPersistenceMode(self, handle):
        return self._query("persistence", 1)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        value = self.energy_mj[0] if len(self.energy_mj) == 1 else self.energy_mj.pop(0)
        return self._query("energy", value)


def test_gpu_state_through_nvml(monkeypatch) -> None:
    monkeypatch.setattr(energy, "nvml", lambda: StandInNVML())
    assert gpu_state(CUDA) == {"gpu_clock_sm_mhz": 1980, "gpu_clock_mem_mhz": 2619, "gpu_power_limit_w": 700.0,
                               "gpu_temperature_c": 41, "gpu_persistence_mode": True}


def test_one_unsupported_nvml_query_loses_only_its_field(monkeypatch) -> None:
    monkeypatch.setattr(energy, "nvml", lambda: StandInNVML(failing="power"))
    state = gpu_state(CUDA)
    assert state["gpu_power_limit_w"] is None and state["gpu_temperature_c"] == 41


def test_no_nvml_means_no_gpu_figures(monkeypatch) -> None:
    monkeypatch.setattr(energy, "nvml", lambda: None)
    assert gpu_state(CUDA) == dict.fromkeys(machine.GPU_FIELDS)


def test_nvml_energy_over_the_window(monkeypatch) -> None:
    monkeypatch.setattr(energy, "nvml", lambda: StandInNVML(energy_mj=[0, 1_000, 9_000]))
    monkeypatch.setattr(energy, "MIN_ENERGY_WINDOW_S", 0.0)
    meter = EnergyMeter(CUDA)  # the first read checks the counter exists
    with meter.window():
        pass
    figures = meter.figures(images=16)
    assert figures["energy_source"] == "nvml" and figures["energy_j"] == pytest.approx(8.0)
    assert figures["energy_j_per_image"] == pytest.approx(0.5) and figures["power_w"] > 0


def write_rapl(root: Path, package: int, energy_uj: int, max_uj: int = 1_000_000) -> None:
    domain = root / f"intel-rapl:{package}"
    domain.mkdir(parents=True, exist_ok=True)
    (domain / "energy_uj").write_text(f"{energy_uj}\n")
    (domain / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_energy_adds_packages_and_unwraps_a_counter(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(energy, "MIN_ENERGY_WINDOW_S", 0.0)
    write_rapl(tmp_path, 0, 900_000)
    write_rapl(tmp_path, 1, 100_000)
    write_rapl(tmp_path, "0:0", 5)  # a subdomain (core) of package 0: part of it, never added
    meter = EnergyMeter(torch.device("cpu"), powercap=tmp_path)
    with meter.window():
        write_rapl(tmp_path, 0, 200_000)  # wrapped at 1 J: +0.3 J
        write_rapl(tmp_path, 1, 600_000)  # +0.5 J
        write_rapl(tmp_path, "0:0", 999_999)
    figures = meter.figures(images=4)
    assert figures["energy_source"] == "rapl" and figures["energy_j"] == pytest.approx(0.8)
    assert figures["energy_j_per_image"] == pytest.approx(0.2)


def test_unreadable_energy_is_null_and_said_once(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(energy, "_said_unavailable", set())
    with caplog.at_level(logging.INFO, logger="bench.job.energy"):
        for _ in range(2):
            meter = EnergyMeter(torch.device("cpu"), powercap=tmp_path / "absent")
            with meter.window():
                pass
            figures = meter.figures(images=1)
            assert figures == {"energy_j": None, "power_w": None, "energy_j_per_image": None, "energy_source": None,
                               "energy_note": figures["energy_note"]}  # null, never zero, and why
            assert "RAPL under" in figures["energy_note"] and "not readable here" in figures["energy_note"]
    assert caplog.text.count("energy not measured") == 1


def test_a_window_too_short_for_the_counter_is_refused(tmp_path: Path, caplog) -> None:
    write_rapl(tmp_path, 0, 0)
    meter = EnergyMeter(torch.device("cpu"), powercap=tmp_path)
    with meter.window():
        write_rapl(tmp_path, 0, 10)
    with caplog.at_level(logging.INFO, logger="bench.job.energy"):
        figures = meter.figures(images=1)
    assert figures["energy_j"] is None and figures["energy_source"] == "rapl" and "under 2 s" in figures["energy_note"]
    assert "under 2 s" in caplog.text


def test_a_failed_read_loses_the_whole_measurement_not_half(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(energy, "MIN_ENERGY_WINDOW_S", 0.0)
    write_rapl(tmp_path, 0, 0)
    meter = EnergyMeter(torch.device("cpu"), powercap=tmp_path)
    with meter.window():
        write_rapl(tmp_path, 0, 500_000)  # +0.5 J in the first window
    with meter.window():
        (tmp_path / "intel-rapl:0" / "energy_uj").unlink()  # the second window's end cannot be read
    figures = meter.figures(images=1)
    assert figures["energy_j"] is None and figures["energy_source"] == "rapl" and "failed" in figures["energy_note"]
