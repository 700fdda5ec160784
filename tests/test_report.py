"""Loading and merging records, bad input, and the report's output files (synthetic records: no benchmark run)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.report import task as report_mod
from bench.job.errors import ConfigError
from bench.report.task import build_report, make_report
from helpers import TEST_NET, run_cli, write_fake


def test_two_hosts_merge_grouped_by_device_with_duplicates_counted_once(tmp_path: Path) -> None:
    host_a, host_b = tmp_path / "host_a", tmp_path / "host_b"
    shared = write_fake(host_a, "runs/1", device_name="NVIDIA A100", device_count=1)
    shutil.copytree(host_a / "runs/1", host_b / "runs/1")   # the same job copied from both hosts
    write_fake(host_b, "runs/2", device_name="NVIDIA H100", device_count=8)
    write_fake(host_b, "runs/3", device_name="NVIDIA H100", device_count=1)

    report = build_report([host_a, host_b])
    assert len(report.records) == 3
    assert report.duplicates["run_id"].tolist() == [shared["run_id"]]
    assert sorted(report.records["device"]) == ["NVIDIA A100", "NVIDIA H100", "NVIDIA H100 x8"]

    figures = make_report([host_a, host_b], tmp_path / "out")
    assert (figures["n_records"], figures["n_duplicates"]) == (3, 1)
    assert "Duplicate records" in Path(figures["report_markdown"]).read_text()


def test_truncated_record_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_fake(tmp_path, "good")
    bad = tmp_path / "bad" / "record.json"
    bad.parent.mkdir()
    bad.write_text('{"run_id": "abc", "status": "o')  # a copy cut short
    with caplog.at_level(logging.WARNING):
        figures = make_report([tmp_path], tmp_path / "out")
    assert figures["n_records"] == 1 and figures["n_skipped"] == 1
    assert str(bad) in caplog.text
    assert str(bad) in Path(figures["report_markdown"]).read_text()


def test_unknown_and_mixed_columns_survive_csv_and_parquet(tmp_path: Path) -> None:
    write_fake(tmp_path, "new", schema_version=7, future_field=3, nested={"a": [1, 2]})
    write_fake(tmp_path, "newer", schema_version=8, future_field="three")
    write_fake(tmp_path, "old", schema_version=0, step_times_s=None, images_per_s=None)
    figures = make_report([tmp_path], tmp_path / "out")
    for frame in (pd.read_csv(figures["report_csv"]), pd.read_parquet(figures["report_parquet"])):
        assert len(frame) == 3
        assert {"future_field", "nested", "step_times_s", "schema_version"} <= set(frame.columns)


def test_failed_jobs_counted_and_shown_with_their_error(tmp_path: Path) -> None:
    write_fake(tmp_path, "ok")
    write_fake(tmp_path, "oom", status="oom", error="out of memory at batch size 4096")
    write_fake(tmp_path, "killed", status="running")  # a job killed before its final write
    figures = make_report([tmp_path], tmp_path / "out")
    assert (figures["n_ok"], figures["n_failed"], figures["n_running"]) == (1, 1, 1)
    assert "out of memory at batch size 4096" in Path(figures["report_markdown"]).read_text()


def test_paper_figures_beside_measured_and_the_tf_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paper = {"inception_v3": {"top1": 78.8, "top5": 94.4, "params": 23.8e6, "gmacs": 5.7, "source": "Szegedy 2016"}}
    monkeypatch.setattr(report_mod, "_paper_figures", lambda model: paper.get(model, {}))
    write_fake(tmp_path, "v3", model="inception_v3", batch_size=32, input_size=299, mean_s=0.2, std_s=0.01)
    write_fake(tmp_path, "v3b64", model="inception_v3", batch_size=64, input_size=299)
    write_fake(tmp_path, "gn", model="googlenet")  # no published figures: blank, not an error
    report = build_report([tmp_path])
    row = report.paper.set_index("model").loc["inception_v3"]
    assert (row["paper_top1"], row["paper_gmacs"], row["measured_gmacs"]) == (78.8, 5.7, 1.5)
    assert pd.isna(report.paper.set_index("model").loc["googlenet", "paper_top1"])
    assert report.book["mean_s"].tolist() == [0.168, 0.2]  # the book, then the one batch-32 299 run


@pytest.mark.parametrize("setup", ["missing", "empty"])
def test_no_records_is_one_clear_error(tmp_path: Path, setup: str) -> None:
    results = tmp_path / "results"
    if setup == "empty":
        results.mkdir()
    with pytest.raises(ConfigError, match="results dir not found|no record.json"):
        build_report([results])


def test_report_task_on_an_empty_dir_fails_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli("task=report", *TEST_NET, f"paths.results_dir={tmp_path}", f"report.dirs=[{tmp_path / 'empty'}]")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "no record.json under" in proc.stderr
