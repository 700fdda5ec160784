"""The result record: schema, atomic writes and JSON safety."""
from __future__ import annotations

import json
import math
from pathlib import Path

from bench.job.record import RECORD_FILE, new_record, read_record, summary_fields, write_record
from helpers import fake_record

IDENTITY_KEYS = {"schema_version", "run_id", "timestamp", "task", "status", "error", "model", "data", "config"}


def test_new_record_holds_identity_and_resolved_config(compose_cfg) -> None:
    cfg = compose_cfg("bench.batch_size=4")
    record = new_record(cfg, "benchmark")
    assert IDENTITY_KEYS <= set(record)
    assert record["status"] == "running" and record["model"] == "googlenet" and record["data"] == "synthetic"
    assert record["config"]["bench"]["batch_size"] == 4
    assert len({new_record(cfg, "benchmark")["run_id"] for _ in range(50)}) == 50


def test_write_record_is_atomic_and_json_safe(tmp_path: Path) -> None:
    record = fake_record(mean_s=math.nan, times=(0.1, math.inf), path=tmp_path)  # times, path: fields the schema does not know
    path = write_record(record, tmp_path / "job")
    assert path.name == RECORD_FILE
    assert sorted(p.name for p in path.parent.iterdir()) == [RECORD_FILE]  # no temporary file left behind
    loaded = read_record(path)
    assert loaded["mean_s"] is None and loaded["times"] == [0.1, None] and loaded["path"] == str(tmp_path)
    json.loads(path.read_text())  # strict JSON: no NaN / Infinity tokens
    write_record({**record, "status": "error"}, tmp_path / "job")
    assert read_record(path)["status"] == "error"


def test_summary_fields_are_flat_scalars() -> None:
    fields = summary_fields({"config": {"a": 1}, "step_times_s": [0.1], "mean_s": 0.2, "model": "googlenet", "x": None})
    assert fields == {"mean_s": 0.2, "model": "googlenet", "x": None}
