"""Real multiruns through run.py: one record per job, failures recorded, parallel jobs intact, optuna, SLURM presets."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from bench.job.record import IDENTITY_FIELDS
from helpers import CONF_DIR, TEST_NET, TINY_BENCH, records, run_cli

TINY = [*TEST_NET, *TINY_BENCH]


def harness(results: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*overrides, f"paths.results_dir={results}", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def sweep_dir(results: Path) -> Path:
    (found,) = results.glob("multirun/*/*")
    return found


def test_multirun_with_a_failing_job_records_every_job_and_reports(tmp_path: Path) -> None:
    harness(tmp_path, "-m", *TINY, "bench.batch_size=1,2,4,0")  # batch 0 fails on purpose; the sweep goes on
    jobs = sorted(records(tmp_path), key=lambda r: r["job_num"])
    assert [r["status"] for r in jobs] == ["ok", "ok", "ok", "error"]
    sweep = sweep_dir(tmp_path)
    for num, (rec, batch) in enumerate(zip(jobs, (1, 2, 4, 0))):  # each job's identity, as the job spec carried it
        assert (rec["job_num"], rec["sweep_id"], rec["sweep_dir"]) == (num, sweep.name, str(sweep.resolve()))
        task_overrides = [o for o in TINY if not o.startswith("hydra.")]  # hydra.* overrides are not the job's
        assert rec["overrides"] == [*task_overrides, f"bench.batch_size={batch}", f"paths.results_dir={tmp_path}"]
        assert Path(rec["out_dir"]).parent == sweep.resolve() and Path(rec["out_dir"]).name.startswith(f"{num}_")
        if batch == 0:  # refused by the config's checks in the launching process: no child was started for it
            assert not Path(rec["out_dir"], "job_spec.json").exists()
            continue
        spec = json.loads(Path(rec["out_dir"], "job_spec.json").read_text())  # what the isolated child was given
        assert {k: spec[k] for k in IDENTITY_FIELDS} == {k: rec[k] for k in IDENTITY_FIELDS}
        assert (spec["multirun"], spec["isolated"]) == (True, True)

    table = pd.read_csv(sweep / "report" / "summary.csv")  # written by the sweep's on_multirun_end callback
    assert sorted(table["job_num"]) == [0, 1, 2, 3]
    assert table.set_index("job_num")["status"].tolist() == ["ok", "ok", "ok", "error"]
    assert "batch_size must be a positive integer" in (sweep / "report" / "summary.md").read_text()

    # the same report on demand, as its own job with its own record
    harness(tmp_path, "task=report", *TEST_NET, f"report.dirs=[{sweep}]")
    (own,) = [r for r in records(tmp_path / "runs") if r["task"] == "report"]
    assert (own["status"], own["n_records"], own["n_ok"], own["n_failed"]) == ("ok", 4, 3, 1)
    assert Path(own["report_dashboard"]).is_file()


def test_parallel_joblib_jobs_write_intact_records(tmp_path: Path) -> None:
    harness(tmp_path, "-m", "hydra/launcher=local_parallel", *TINY, "bench.batch_size=1,2,3,4", "bench.steps=20")
    jobs = records(tmp_path)  # json.loads on each: a half-written record would fail here
    assert [r["status"] for r in jobs] == ["ok"] * 4
    assert sorted(r["batch_size"] for r in jobs) == [1, 2, 3, 4]
    assert len({r["out_dir"] for r in jobs}) == 4 and len({r["run_id"] for r in jobs}) == 4
    assert not list(tmp_path.rglob(".record-*"))  # no temp file left behind by the atomic writes
    assert len(pd.read_csv(sweep_dir(tmp_path) / "report" / "summary.csv")) == 4


def test_optuna_search_optimises_the_returned_metric(tmp_path: Path) -> None:
    harness(tmp_path, "-m", "experiment=optuna_throughput", *TINY, "hydra.sweeper.n_trials=3",
            "bench.batch_size=choice(1,2,4)", "bench.precision=fp32", "bench.channels_last=false", "bench.repeats=1")
    jobs = records(tmp_path)
    assert len(jobs) == 3
    assert {r["batch_size"] for r in jobs} <= {1, 2, 4}  # the command line's search space replaced the preset's
    result = yaml.safe_load((sweep_dir(tmp_path) / "optimization_results.yaml").read_text())
    ok = [r["images_per_s"] for r in jobs if r["status"] == "ok"]
    assert result["best_value"] == pytest.approx(max(ok))


@pytest.mark.parametrize(("preset", "gpus", "tasks"), [("slurm", 1, 1), ("slurm_node", 8, 8)])
def test_slurm_presets_compose(preset: str, gpus: int, tasks: int) -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={preset}", *TEST_NET, "hydra.launcher.partition=a100"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("a100", gpus, tasks)
    assert launcher.timeout_min > 0 and launcher.nodes == 1
