"""Energy to train: the counters read over the training clock's windows (eval excluded), a failed read null, the
sum over ranks (RAPL once per node), resumes, and real jobs with a stand-in counter (in-process and 2-process DDP).

Stand-in counters are injected as the machine tests do theirs: a scripted ``Counter`` handed to the meter (no
sysfs or NVML here: this VM exposes no /sys/class/powercap), or, in real jobs, ``+callbacks.energy.counter=...``.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.job import energy
from bench.job.energy import Counter
from bench.training.energy import EnergyToTrain, job_energy
from helpers import SYNTHETIC_DATA, TEST_NET, TINY_TRAIN, records, run_cli, run_train_job
from lightning_modules.callbacks import EpochRecorder
from tests import tta_callbacks

CPU = torch.device("cpu")
FAKE = ["+callbacks.epoch_recorder.clock={_target_:tests.tta_callbacks.fake_clock}",
        "+callbacks.ticker={_target_:tests.tta_callbacks.fake_clock}"]


def standin(watts: float) -> str:
    return f"+callbacks.energy.counter={{_target_:tests.tta_callbacks.standin_counter,watts:[{watts}]}}"


@pytest.fixture(autouse=True)
def _fresh_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tta_callbacks.CLOCK, "now", 0.0)


def scripted(readings: list[float | None], per_node: bool = False) -> Counter:
    """A counter answering ``readings`` in order (None: that read fails)."""
    left = list(readings)

    def read() -> list[float]:
        value = left.pop(0)
        if value is None:
            raise OSError("counter gone")
        return [value]

    return Counter("standin", read, [None], per_node=per_node)


class FakeStrategy:
    """One process, or one rank of several: ``reduce`` adds the other ranks' tensors, as an all-reduce would."""

    root_device = CPU

    def __init__(self, others: list[torch.Tensor] = ()) -> None:
        self.others = list(others)

    def reduce(self, tensor: torch.Tensor, reduce_op: str) -> torch.Tensor:
        assert reduce_op == "sum"
        return tensor + sum(self.others, torch.zeros_like(tensor))


def fake_trainer(callbacks: list, local_rank: int = 0, world_size: int = 1, strategy: FakeStrategy | None = None):
    return SimpleNamespace(callbacks=callbacks, local_rank=local_rank, world_size=world_size, num_nodes=1,
                           strategy=strategy or FakeStrategy(), state=SimpleNamespace(fn="fit"), sanity_checking=False)


def fit(counter: Counter, *, evals: int, step_s: float = 5.0, local_rank: int = 0) -> tuple[EnergyToTrain, EpochRecorder, object]:
    """Drives the clock as fit does: train, then ``evals`` times (validate, train again), then the end."""
    now = [0.0]
    recorder, meter = EpochRecorder(clock=lambda: now[0]), EnergyToTrain(counter=counter)
    trainer = fake_trainer([recorder, meter], local_rank=local_rank)
    meter.setup(trainer, None, "fit")
    recorder.on_train_start(trainer, None)
    for _ in range(evals):
        now[0] += step_s
        recorder.on_validation_start(trainer, None)
        now[0] += 100.0  # validation: outside the clock
        recorder.on_validation_end(trainer, None)
    now[0] += step_s
    recorder.on_train_end(trainer, None)
    return meter, recorder, trainer


def test_energy_over_two_windows_is_the_counter_difference_with_eval_excluded() -> None:
    # window 1: 0 -> 10 J; validation: 10 -> 25 J (not counted); window 2: 25 -> 40 J
    meter, recorder, trainer = fit(scripted([0.0, 10.0, 25.0, 40.0]), evals=1)
    figures = meter.figures(trainer, recorder)
    assert figures["energy_j"] == pytest.approx((10.0 - 0.0) + (40.0 - 25.0))
    assert recorder.elapsed() == 10.0 and figures["power_w"] == pytest.approx(25.0 / 10.0)
    assert figures["energy_source"] == "standin" and figures["energy_note"] is None


def test_a_failed_read_is_null_never_a_part_sum() -> None:
    meter, recorder, trainer = fit(scripted([0.0, 10.0, None, 40.0]), evals=1)  # the second window cannot open
    figures = meter.figures(trainer, recorder)
    assert figures["energy_j"] is None and figures["power_w"] is None
    assert figures["energy_source"] == "standin" and "failed" in figures["energy_note"]


def test_no_readable_counter_is_null_with_the_source_stated(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(energy, "POWERCAP", tmp_path / "absent")  # as on this VM: no /sys/class/powercap
    meter, recorder, trainer = fit(None, evals=1)
    figures = meter.figures(trainer, recorder)
    assert figures["energy_j"] is None and figures["energy_source"] is None
    assert figures["energy_note"].startswith(f"not measured: RAPL under {tmp_path / 'absent'} is not readable here")


def test_a_per_node_counter_is_read_by_local_rank_0_only() -> None:
    off_rank_0, recorder, trainer = fit(scripted([0.0, 999.0], per_node=True), evals=0, local_rank=1)
    assert off_rank_0.counting is False and recorder.windows == []  # never opened: its node's rank 0 reads it
    rank_0, _, _ = fit(scripted([0.0, 50.0], per_node=True), evals=0)
    per_device, _, _ = fit(scripted([0.0, 50.0], per_node=False), evals=0, local_rank=1)
    assert rank_0.counting is True and per_device.counting is True  # an NVML counter: every rank its own GPU


def test_the_sum_over_ranks_adds_counting_ranks_and_a_missing_one_nulls() -> None:
    def ranks(*local: tuple[float | None, bool]) -> list[tuple[float, int]]:
        """Each rank's job_energy, every rank's reduce adding all ranks' tensors (an all-reduce of sums)."""
        parts: list[torch.Tensor] = []
        for joules, counting in local:  # each rank's part, as it enters the all-reduce
            job_energy(joules, counting, lambda t: parts.append(t) or t)
        return [job_energy(j, c, lambda t: sum(parts)) for j, c in local]

    assert ranks((120.0, True), (80.0, True)) == [(200.0, 0)] * 2  # two GPUs, each its own counter
    assert ranks((300.0, True), (123.0, False)) == [(300.0, 0)] * 2  # a node's RAPL read by local rank 0 only
    assert ranks((120.0, True), (None, True))[0][1] == 1  # a counting rank without a figure: the total is null


def test_rank_0_writes_null_when_another_rank_had_no_figure() -> None:
    meter, recorder, _ = fit(scripted([0.0, 10.0]), evals=0)
    other_rank_missing = torch.tensor([0.0, 1.0], dtype=torch.float64)
    figures = meter.figures(fake_trainer([], world_size=2, strategy=FakeStrategy([other_rank_missing])), recorder)
    assert figures["energy_j"] is None and "1 of 1 counting ranks" in figures["energy_note"]


def test_a_resume_adds_the_checkpoints_joules_and_a_multi_rank_checkpoint_is_null() -> None:
    first, _, _ = fit(scripted([0.0, 30.0]), evals=0)
    saved = first.state_dict()
    assert saved["energy_j"] == 30.0
    meter, recorder, trainer = fit(scripted([100.0, 112.0]), evals=0)
    meter.load_state_dict(saved)
    recorder.segments = 2
    assert meter.figures(trainer, recorder)["energy_j"] == pytest.approx(42.0)
    meter.load_state_dict({**saved, "counting_ranks": 2})
    figures = meter.figures(trainer, recorder)
    assert figures["energy_j"] is None and "rank 0's energy only" in figures["energy_note"]


def test_a_training_job_records_energy_over_its_clock(tmp_path: Path) -> None:
    """A real fit: 3 W on the fake clock (+1 s a training batch, +100 s a validation batch) over 2 epochs of
    4 batches is 3 x 8 s = 24 J; validation's 400 fake seconds would add 1,200 J."""
    rec = run_train_job(tmp_path, *SYNTHETIC_DATA, *FAKE, standin(3.0), "trainer.max_epochs=2")
    assert rec["status"] == "ok", rec["error"]
    assert (rec["train_time_s"], rec["eval_time_s"]) == (8.0, 400.0)
    assert rec["energy_j"] == pytest.approx(24.0) and rec["power_w"] == pytest.approx(3.0)
    assert rec["energy_j_per_image"] == pytest.approx(24.0 / 128) and rec["energy_source"] == "standin"
    assert "local rank 0 only" in rec["clock"]["energy"]
    resumed = run_train_job(tmp_path, *SYNTHETIC_DATA, *FAKE, standin(3.0), "trainer.max_epochs=3", "ckpt_path=last")
    assert resumed["segments"] == 2 and resumed["energy_j"] == pytest.approx(3.0 * resumed["train_time_s"])


def test_a_job_with_a_failing_counter_records_null(tmp_path: Path) -> None:
    failing = "+callbacks.energy.counter={_target_:tests.tta_callbacks.standin_counter,watts:[3.0],fail_at_read:2}"
    rec = run_train_job(tmp_path, *SYNTHETIC_DATA, *FAKE, failing)
    assert rec["status"] == "ok" and rec["energy_j"] is None and "failed" in rec["energy_note"]


@pytest.mark.slow
def test_ddp_two_processes_record_energy_summed_over_ranks(tmp_path: Path) -> None:
    """Rank 0 draws 1 W, rank 1 100 W (each its own stand-in counter, as each GPU has its NVML one): 2 training
    batches a rank (64 images, 2 ranks, batch 16) on the fake clock is 2 s, so (1 + 100) x 2 s = 202 J."""
    counter = "+callbacks.energy.counter={_target_:tests.tta_callbacks.standin_counter,watts:[1.0,100.0]}"
    proc = run_cli("-m", *TEST_NET, *TINY_TRAIN, *SYNTHETIC_DATA, *FAKE, counter, "trainer=ddp_cpu", "trainer.devices=2",
                   f"paths.results_dir={tmp_path}", "seed=3", "report.after_sweep=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (rec,) = records(tmp_path)
    assert rec["status"] == "ok" and rec["device_count"] == 2, rec["error"]
    assert rec["train_time_s"] == 2.0 and rec["energy_j"] == pytest.approx(202.0), rec["energy_note"]
    assert rec["power_w"] == pytest.approx(101.0) and rec["energy_source"] == "standin"
