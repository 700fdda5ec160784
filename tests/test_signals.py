"""Stop signals (SIGTERM, SIGINT, SIGUSR1/2) end a job cleanly: an ``interrupted`` record, a closed W&B run,
a resumable checkpoint for training, the shell's exit code; a sweep goes on to its report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import lightning.pytorch as pl
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from bench.job.signals import StopGuard, StopSignal
from lightning_modules.callbacks import StopAtStepEnd
from lightning_modules.classifier import ClassifierModule
from lightning_modules.data import SyntheticDataModule
from tiny_net import TinyInception
from helpers import SYNTHETIC_DATA, TEST_NET, TINY_TRAIN, WANDB_CLI, read_if_written, records, run_cli, start_cli, wait_until

# a benchmark that runs until it is stopped, saying how far it got every 10 steps
ENDLESS_BENCH = [*TEST_NET, "bench.steps=1000000", "bench.burn_in=1", "bench.log_every=10"]


def _stop_when_running(proc: subprocess.Popen, output: Path, job: Path, signum: int, group: bool, started: str) -> float:
    """Send ``signum`` once ``started`` is printed; return the seconds until the record's final status."""
    wait_until(lambda: started in output.read_text(), 180, f"{started!r} in the output", proc)
    sent = time.monotonic()
    (os.killpg if group else os.kill)(proc.pid, signum)
    wait_until(lambda: (read_if_written(job / "record.json") or {}).get("status") not in (None, "running"), 30,
               "a final record", proc=None)
    return time.monotonic() - sent


# ---------------------------------------------------------------------------------- the guard itself
def test_first_signal_raises_repeats_are_ignored_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(StopSignal) as stop, StopGuard() as guard:
        os.kill(os.getpid(), signal.SIGUSR1)  # a signal to itself: CPython runs the handler before os.kill returns
        pytest.fail("the handler did not raise at the signal")
    assert stop.value.name == "SIGUSR1" and guard.pending is stop.value
    with StopGuard() as guard:
        guard.finishing()  # writing the final record: a signal is noted, not raised
        os.kill(os.getpid(), signal.SIGUSR2)
        wait_until(lambda: guard.pending, 5, "the signal noted")
    assert guard.pending.name == "SIGUSR2" and signal.getsignal(signal.SIGUSR1) is before


def test_a_deferred_stop_waits_for_the_task_or_is_forced_after_the_grace_time() -> None:
    with StopGuard(grace_s=30) as guard:
        guard.defer()
        os.kill(os.getpid(), signal.SIGTERM)
        # noted, not raised: the task stops at its next step end
        assert wait_until(lambda: guard.pending, 5, "the signal noted").name == "SIGTERM"
        with pytest.raises(StopSignal):
            guard.stop_now()
    start = time.monotonic()
    with pytest.raises(StopSignal), StopGuard(grace_s=0.3) as guard:
        guard.defer()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # a task stuck where it never reaches its next step end: real time is what is tested here
    assert 0.3 <= time.monotonic() - start < 5  # forced at the grace time, not at the sleep's end


class SigtermAtStep(Callback):
    """Sends this process SIGTERM at the end of step ``step``, after ``StopAtStepEnd`` has looked for one."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize("late", [False, True])
def test_training_saves_its_step_end_whoever_sees_the_signal_first(tmp_path: Path, late: bool) -> None:
    """A SIGTERM seen by StopAtStepEnd at the step's end, or first by Lightning's own SIGTERM stop (which raises at
    the step's end, after the callbacks): either way the checkpoint holds that step."""
    net = TinyInception(num_classes=10)
    module = ClassifierModule(net, optim={"optimizer": {"_target_": "torch.optim.SGD", "lr": 0.1}}, num_classes=10)
    data = SyntheticDataModule(num_classes=10, batch_size=8, input_size=16, image_size=16, train_size=64, val_size=8)
    with StopGuard() as guard:
        stop = StopAtStepEnd(guard, tmp_path / "last.ckpt")
        kill = SigtermAtStep(3)
        trainer = pl.Trainer(accelerator="cpu", max_epochs=5, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             callbacks=[stop, kill] if late else [kill, stop])
        with pytest.raises((StopSignal, SIGTERMException)):
            trainer.fit(module, datamodule=data)
    assert guard.pending.name == "SIGTERM" and trainer.global_step == 3
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 3


# ---------------------------------------------------------------------------------- whole jobs through run.py
@pytest.mark.slow
def test_sigterm_to_the_process_group_interrupts_an_isolated_benchmark(tmp_path: Path) -> None:
    """What scancel or a terminal does: parent and child both get the signal; the child stops once, cleanly."""
    job, output = tmp_path / "job", tmp_path / "output.txt"
    proc = start_cli(*ENDLESS_BENCH, "logger=wandb", f"hydra.run.dir={job}", output=output)
    seconds = _stop_when_running(proc, output, job, signal.SIGTERM, group=True, started="step 10,")
    assert proc.wait(60) == 128 + signal.SIGTERM, output.read_text()[-2000:]
    rec = json.loads((job / "record.json").read_text())
    assert (rec["status"], rec["signal"]) == ("interrupted", "SIGTERM") and rec["step_reached"] >= 11
    assert rec["pid"] != proc.pid  # the record is the isolated child's
    assert seconds < 10, f"{seconds:.1f} s from SIGTERM to the final record"
    (run_dir,) = (job / "wandb").glob("offline-run-*")
    inspected = subprocess.run([WANDB_CLI, "leet", "inspect", "--summary", "--json", str(run_dir)],
                               capture_output=True, text=True, timeout=60, check=True)
    wandb = json.loads(inspected.stdout)
    assert wandb["state"] != "running" and wandb["summary"]["status"] == "interrupted"  # the run was closed


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "isolate"), [(signal.SIGUSR1, "true"), (signal.SIGUSR2, "false")])
def test_slurm_signals_interrupt_a_benchmark_with_or_without_isolation(tmp_path: Path, signum: int, isolate: str) -> None:
    """SIGUSR1/2 (SLURM's warning before a time limit) to the job's main process alone, as `kill` would."""
    job, output = tmp_path / "job", tmp_path / "output.txt"
    proc = start_cli(*ENDLESS_BENCH, f"isolate={isolate}", f"hydra.run.dir={job}", output=output)
    _stop_when_running(proc, output, job, signum, group=False, started="step 10,")
    assert proc.wait(60) == 128 + signum, output.read_text()[-2000:]
    rec = json.loads((job / "record.json").read_text())
    assert (rec["status"], rec["signal"]) == ("interrupted", signal.Signals(signum).name) and rec["step_reached"] >= 11
    assert (rec["pid"] == proc.pid) == (isolate == "false")


@pytest.mark.slow
@pytest.mark.parametrize("isolate", ["auto", "false"])
def test_ctrl_c_in_a_sweep_records_every_job_and_still_reports(tmp_path: Path, isolate: str) -> None:
    """The basic launcher runs jobs one after another in one process: the stopped job and the ones after it are
    recorded ``interrupted`` (those not started say so), the sweep writes its report and exits 130 (Ctrl-C)."""
    output = tmp_path / "output.txt"
    proc = start_cli("-m", *ENDLESS_BENCH, f"isolate={isolate}", f"paths.results_dir={tmp_path}", "bench.batch_size=1,2,3",
                     output=output)
    wait_until(lambda: "step 10," in output.read_text(), 180, "the first job's progress", proc)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(120) == 128 + signal.SIGINT, output.read_text()[-2000:]
    jobs = sorted(records(tmp_path / "multirun"), key=lambda r: r["job_num"])
    assert [(r["status"], r["signal"]) for r in jobs] == [("interrupted", "SIGINT")] * 3
    assert jobs[0]["step_reached"] >= 11 and [r["step_reached"] for r in jobs[1:]] == [0, 0]  # never started
    assert {r["error"] for r in jobs[1:]} == {"not started: the sweep was stopped by SIGINT before this job began"}
    (summary,) = tmp_path.glob("multirun/*/*/report/summary.csv")
    assert pd.read_csv(summary)["status"].tolist() == ["interrupted"] * 3


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_that_resumes_training(tmp_path: Path) -> None:
    job, output = tmp_path / "job", tmp_path / "output.txt"
    train = [*TEST_NET, *TINY_TRAIN, *SYNTHETIC_DATA, f"hydra.run.dir={job}", "callbacks.step_checkpoint.every_n_train_steps=2"]
    proc = start_cli(*train, "trainer.max_epochs=1000", output=output)
    wait_until(lambda: (job / "checkpoints" / "last-step.ckpt").is_file(), 180, "training's first steps", proc)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: read_if_written(job / "record.json")["status"] != "running", 30, "a final record")
    seconds = time.monotonic() - sent
    assert proc.wait(60) == 128 + signal.SIGTERM, output.read_text()[-2000:]
    rec = json.loads((job / "record.json").read_text())
    assert (rec["status"], rec["signal"]) == ("interrupted", "SIGTERM") and rec["step_reached"] >= 2
    assert seconds < 10, f"{seconds:.1f} s from SIGTERM to the final record"
    saved = torch.load(rec["checkpoint"], map_location="cpu", weights_only=True)
    # last.ckpt, saved where the signal landed: at a training step's end or at a validation batch's end
    assert Path(rec["checkpoint"]).name == "last.ckpt" and saved["global_step"] == rec["step_reached"]

    # 4 steps per epoch: resumed, the job ends at epoch 3's end having run the steps left, not 12 from scratch
    resumed = run_cli(*train, "trainer.max_epochs=3", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    done = json.loads((job / "record.json").read_text())
    assert done["status"] == "ok" and done["resumed_from"] == rec["checkpoint"] and done["global_step"] == 12
    assert f"Restored all states from the checkpoint at {rec['checkpoint']}" in resumed.stderr + resumed.stdout
