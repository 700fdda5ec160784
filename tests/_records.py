"""Synthetic records shaped like the harness's, for report and dashboard tests that need no benchmark run."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from bench.job.record import write_record


def fake_record(**fields: Any) -> dict[str, Any]:
    record = {
        "schema_version": 1, "run_id": uuid.uuid4().hex[:12], "timestamp": "2025-01-01T00:00:00+00:00",
        "task": "benchmark", "status": "ok", "error": None, "model": "googlenet", "data": "synthetic",
        "config": {"model": {"name": fields.get("model", "googlenet")}}, "sweep_id": None, "job_num": None,
        "overrides": [], "device_name": "Test CPU", "device_count": 1, "device_type": "cpu",
        "mode": "forward", "batch_size": 2, "input_size": 64, "precision": "fp32", "memory_format": "contiguous",
        "compile": "off", "mean_s": 0.01, "std_s": 0.001, "images_per_s": 200.0, "step_times_s": [0.009, 0.01, 0.011],
        "gmacs_per_image": 1.5, "params": 6_600_000,
    }
    return {**record, **fields}


def write_fake(root: Path, name: str, **fields: Any) -> dict[str, Any]:
    record = fake_record(**fields)
    write_record(record, root / name)
    return record
