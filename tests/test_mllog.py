"""The training job's event log: MLPerf's ``:::MLLOG`` lines, JSON after the prefix, their key names."""
from __future__ import annotations

import json
from pathlib import Path

from helpers import SYNTHETIC_DATA, run_train_job
from lightning_modules.mllog import PREFIX, read_events

LINE_KEYS = {"namespace", "time_ms", "event_type", "key", "value", "metadata"}  # mlcommons/logging's line
REQUIRED = ["init_start", "submission_benchmark", "seed", "global_batch_size", "train_samples", "eval_samples",
            "opt_name", "opt_base_learning_rate", "init_stop", "run_start", "epoch_start", "epoch_stop", "eval_start",
            "eval_stop", "eval_accuracy", "run_stop"]


def test_a_training_job_logs_every_required_event_in_mlperf_lines(tmp_path: Path) -> None:
    rec = run_train_job(tmp_path, *SYNTHETIC_DATA, "trainer.max_epochs=2", "seed=7", "train.target_top1=0")
    assert rec["status"] == "ok", rec["error"]
    lines = Path(rec["event_log"]).read_text().splitlines()
    assert lines and all(line.startswith(PREFIX + " ") for line in lines)
    events = [json.loads(line[len(PREFIX):]) for line in lines]
    assert events == read_events(rec["event_log"]) and all(set(e) == LINE_KEYS for e in events)
    keys = [e["key"] for e in events]
    assert all(k in keys for k in REQUIRED), set(REQUIRED) - set(keys)
    assert keys[0] == "init_start" and keys[-1] == "run_stop"
    assert [e["time_ms"] for e in events] == sorted(e["time_ms"] for e in events)  # in the order they happened
    value = {e["key"]: e["value"] for e in events}
    assert (value["seed"], value["global_batch_size"], value["train_samples"], value["eval_samples"]) == (7, 16, 64, 32)
    assert value["opt_name"] == "sgd" and value["target_accuracy"] == 0
    stop = events[-1]
    assert stop["event_type"] == "INTERVAL_END" and stop["metadata"]["status"] == "success"  # stopped at target 0 %
    evals = [e for e in events if e["key"] == "eval_accuracy"]
    assert len(evals) == 1 and evals[0]["metadata"]["epoch_num"] == 1 and 0 <= evals[0]["value"] <= 1
