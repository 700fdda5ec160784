"""The job spec: a job's identity reaches its record from the spec the entry point built, in-process and in
an isolated child (through ``job_spec.json``), and the DDP relaunch starts this one job again."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from bench.job import signals
from bench.job.isolation import run_isolated
from bench.job.lifecycle import run_job
from bench.job.record import IDENTITY_FIELDS, JobContext, read_record
from bench.training.relaunch import prepare_ddp_relaunch, relaunch_argv
from contracts.errors import ConfigError
from contracts.job import SPEC_FILE, JobSpec

log = logging.getLogger(__name__)
CHILD_LINE = "the isolated job logs through the logging its spec configured"


@pytest.fixture(autouse=True)
def _no_earlier_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal test earlier in this process leaves its stop noted: a sweep's job would then not start (by design)."""
    monkeypatch.setattr(signals, "_stopped_by", None)


def sweep_job_spec(tmp_path: Path, **fields: Any) -> JobSpec:
    """Job 3 of a sweep, as run.job_spec builds it under Hydra: a file log handler as Hydra's job logging has."""
    sweep = tmp_path / "multirun" / "sweep-7"
    logging_config = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"simple": {"format": "[%(name)s][%(levelname)s] - %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "formatter": "simple",
                              "filename": str(sweep / "3_job" / "run.log")}},
        "root": {"handlers": ["file"], "level": "INFO"},
    }
    return JobSpec(out_dir=str(sweep / "3_job"), multirun=True, sweep_id="sweep-7", sweep_dir=str(sweep), job_num=3,
                   overrides=("model=tiny_test", "bench.batch_size=3"), from_cli=True, job_logging=logging_config,
                   hydra_overrides=("hydra.mode=MULTIRUN", "hydra/launcher=basic", "hydra.verbose=true"), **fields)


def identity(spec: JobSpec) -> dict[str, Any]:
    return {"out_dir": spec.out_dir, "sweep_id": spec.sweep_id, "sweep_dir": spec.sweep_dir, "job_num": spec.job_num,
            "overrides": list(spec.overrides)}


def child_task(cfg: Any, ctx: JobContext) -> dict[str, Any]:
    """Runs in the isolated child (imported there by name): says which process it ran in, logs one line."""
    log.info(CHILD_LINE)
    return {"task_pid": os.getpid(), "task_spec_isolated": ctx.spec.isolated}


def test_the_spec_round_trips_through_its_json_file(tmp_path: Path) -> None:
    spec = sweep_job_spec(tmp_path, verbose=["bench"], config_flags=("--config-name=config",))
    assert JobSpec.read(spec.write(tmp_path / SPEC_FILE)) == spec
    assert JobSpec.for_dir(tmp_path / "job") == JobSpec(out_dir=str((tmp_path / "job").resolve()))


def test_a_spec_from_elsewhere_or_a_single_run_with_a_sweep_is_refused(tmp_path: Path) -> None:
    (tmp_path / SPEC_FILE).write_text('{"out_dir": "/x", "queue": "gpu"}')
    with pytest.raises(ValueError, match=r"unknown fields \['queue'\]"):
        JobSpec.read(tmp_path / SPEC_FILE)
    with pytest.raises(ValueError, match="a single run has no sweep"):
        JobSpec(out_dir="/x", job_num=2)


def test_a_multirun_jobs_record_carries_its_specs_identity_exactly(compose_cfg, tmp_path: Path) -> None:
    spec = sweep_job_spec(tmp_path)
    rec = run_job(compose_cfg("task=benchmark"), spec, lambda cfg, ctx: {"seen": ctx.spec == spec})
    on_disk = read_record(Path(spec.out_dir) / "record.json")
    assert rec["status"] == "ok" and rec["seen"] is True
    assert {k: on_disk[k] for k in IDENTITY_FIELDS} == identity(spec)
    assert set(IDENTITY_FIELDS) == set(identity(spec))  # the record's identity is these fields, no more


def test_the_isolated_child_gets_the_spec_from_its_file(compose_cfg, tmp_path: Path) -> None:
    """A real child process: its record's identity is the parent's spec, and it logs where the spec's logging says."""
    spec = sweep_job_spec(tmp_path)
    rec = run_isolated(compose_cfg("task=benchmark"), spec, child_task)
    assert rec["status"] == "ok", rec["error"]
    assert rec["task_pid"] != os.getpid() and rec["task_pid"] == rec["pid"]  # the task ran in the child, not here
    assert {k: rec[k] for k in IDENTITY_FIELDS} == identity(spec)
    assert rec["task_spec_isolated"] is True
    assert JobSpec.read(Path(spec.out_dir) / SPEC_FILE) == spec.child()  # the file it read, beside the record
    assert f"[test_job_spec][INFO] - {CHILD_LINE}" in Path(spec.out_dir, "run.log").read_text()


def test_a_relaunched_rank_runs_this_job_not_the_sweep(tmp_path: Path) -> None:
    spec = sweep_job_spec(tmp_path, config_flags=("--config-dir=/conf",))
    assert relaunch_argv(spec, "run.py") == ["run.py", "--config-dir=/conf", "hydra.verbose=true",
                                             "model=tiny_test", "bench.batch_size=3"]


def test_an_isolated_job_that_would_relaunch_ddp_ranks_is_refused_with_one_line(tmp_path: Path) -> None:
    """The isolated child's argv starts the child again, not the job: refused before any rank starts."""
    import lightning.pytorch as pl

    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
                         default_root_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="isolate=true with a DDP relaunch"):
        prepare_ddp_relaunch(sweep_job_spec(tmp_path).child(), trainer)
