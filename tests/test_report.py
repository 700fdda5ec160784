"""Loading and merging records, like-with-like comparisons, liveness, and the report's output files."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path

import pandas as pd
import pytest

from contracts.errors import ConfigError
from contracts.status import Status
from bench.reference import MODELS, RETHINKING_TABLE3, TF_BOOK
from bench.report.figures import series_traces
from bench.report.markdown import render_markdown
from bench.report.records import build_report, read_one
from bench.report.sections import SECTIONS
from bench.report.task import make_report
from contracts.record import F
from helpers import TEST_NET, fake_record, run_cli, write_fake

HOST = socket.gethostname()


def _table(report, key: str, n: int = 0) -> pd.DataFrame:
    """The n-th table of section ``key``, as the markdown and the dashboard show it."""
    section = next(s for s in SECTIONS if s.key == key)
    return section.built_tables(report)[n][1]


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


# one hand-broken record of each kind: (dir name, the fields changed (None: left out) or the file's text,
# the field its warning names; None: the file as a whole)
BROKEN = [
    ("wrong_count", {F.device_count: "two"}, F.device_count),
    ("wrong_batch", {F.batch_size: "big"}, F.batch_size),
    ("no_status", {F.status: None}, F.status),
    ("future_version", {F.schema_version: 99}, F.schema_version),
    ("not_an_object", "[1, 2, 3]", None),
    ("truncated", '{"run_id": "abc", "status": "o', None),
]


def _write_broken(root: Path) -> dict[Path, str | None]:
    """The BROKEN records under ``root``: path -> the field its warning must name."""
    paths = {}
    for name, content, field in BROKEN:
        path = root / name / "record.json"
        path.parent.mkdir(parents=True)
        if isinstance(content, dict):
            record = {**fake_record(), **content}
            content = json.dumps({k: v for k, v in record.items() if not (k in content and v is None)})
        path.write_text(content)
        paths[path] = field
    return paths


def test_each_broken_record_is_skipped_with_one_warning_naming_file_and_field(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_fake(tmp_path, "good")
    write_fake(tmp_path, "v1", schema_version=1)        # written before the schema: read through its upgrade
    broken = _write_broken(tmp_path)
    with caplog.at_level(logging.WARNING, logger="bench.report.records"):
        figures = make_report([tmp_path], tmp_path / "out")
    assert (figures["n_records"], figures["n_skipped"]) == (2, len(BROKEN))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(BROKEN)
    markdown = Path(figures["report_markdown"]).read_text()
    for path, field in broken.items():
        (line,) = [w for w in warnings if str(path) in w]        # one warning per bad record
        assert field is None or f"field {field!r}" in line, line
        assert str(path) in markdown
    assert "## Runs" in markdown and Path(figures["report_dashboard"]).is_file()   # the report went on


def test_the_report_task_warns_about_broken_records_and_finishes(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_fake(results, "good")
    broken = _write_broken(results)
    proc = run_cli("task=report", *TEST_NET, f"paths.results_dir={tmp_path / 'out'}", f"report.dirs=[{results}]")
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    for path, field in broken.items():
        (line,) = [w for w in output.splitlines() if "skipped record" in w and str(path) in w]
        assert field is None or f"field {field!r}" in line, line
    (markdown,) = (tmp_path / "out").rglob("summary.md")
    assert f"skipped: {len(BROKEN)}" in markdown.read_text()


@pytest.mark.parametrize("change", ["deleted", "rewritten"])
def test_a_record_that_changes_while_the_report_reads_is_skipped(tmp_path: Path, change: str, caplog) -> None:
    write_fake(tmp_path, "kept")
    write_fake(tmp_path, "changing")

    def read_after_change(path: Path):  # the seam between finding the records and reading each one
        if path.parent.name == "changing":
            if change == "deleted":
                shutil.rmtree(path.parent)       # its job dir deleted (a cleanup, a user)
            else:
                path.write_text(path.read_text()[:40])   # caught half-way through a non-atomic copy
        return read_one(path)

    with caplog.at_level(logging.WARNING, logger="bench.report.records"):
        report = build_report([tmp_path], read=read_after_change)
    assert report.records["record_path"].map(lambda p: Path(p).parent.name).tolist() == ["kept"]
    (skipped,) = report.skipped
    assert str(tmp_path / "changing" / "record.json") in skipped
    assert ("vanished while the report read it" if change == "deleted" else "not valid JSON") in skipped
    assert skipped in caplog.text


def test_unknown_and_mixed_columns_survive_csv_and_parquet(tmp_path: Path) -> None:
    write_fake(tmp_path, "new", future_field=3, nested={"a": [1, 2]})   # fields this schema does not know: kept
    write_fake(tmp_path, "newer", future_field="three")
    write_fake(tmp_path, "old", schema_version=1, step_times_s=None, images_per_s=None)
    figures = make_report([tmp_path], tmp_path / "out")
    for frame in (pd.read_csv(figures["report_csv"]), pd.read_parquet(figures["report_parquet"])):
        assert len(frame) == 3
        assert {"future_field", "nested", "step_times_s", "schema_version", "device"} <= set(frame.columns)


def test_failed_jobs_counted_and_shown_with_their_error(tmp_path: Path) -> None:
    write_fake(tmp_path, "ok")
    write_fake(tmp_path, "oom", status=Status.OOM, error="out of memory at batch size 4096")
    write_fake(tmp_path, "killed", status=Status.KILLED, error="killed by SIGKILL", killed_signal="SIGKILL")
    write_fake(tmp_path, "old", status=Status.RUNNING)  # no liveness fields (older harness): cannot tell, stays running
    figures = make_report([tmp_path], tmp_path / "out")
    assert (figures["n_ok"], figures["n_failed"], figures["n_running"], figures["n_dead"]) == (1, 2, 1, 0)
    markdown = Path(figures["report_markdown"]).read_text()
    assert "out of memory at batch size 4096" in markdown and "killed by SIGKILL" in markdown


def test_running_records_whose_process_is_gone_show_as_dead(tmp_path: Path) -> None:
    now = time.time()
    gone = os.getpid() + 10_000_000  # above pid_max: no such process
    alive = os.getpid()
    write_fake(tmp_path, "here_gone", status=Status.RUNNING, host=HOST, pid=gone, heartbeat_at=now, heartbeat_interval_s=30)
    write_fake(tmp_path, "here_alive", status=Status.RUNNING, host=HOST, pid=alive, heartbeat_at=now - 10,
               heartbeat_interval_s=30)
    # same host, pid alive but the heartbeat an hour old: the pid is another process's now (pid reuse)
    write_fake(tmp_path, "here_reused", status=Status.RUNNING, host=HOST, pid=alive, heartbeat_at=now - 3600,
               heartbeat_interval_s=30)
    write_fake(tmp_path, "here_no_beat", status=Status.RUNNING, host=HOST, pid=alive)  # no heartbeat: the pid decides
    write_fake(tmp_path, "far_stale", status=Status.RUNNING, host="node7", pid=1, heartbeat_at=now - 100,
               heartbeat_interval_s=30)  # older than 3 intervals
    write_fake(tmp_path, "far_fresh", status=Status.RUNNING, host="node7", pid=1, heartbeat_at=now - 80,
               heartbeat_interval_s=30)
    report = build_report([tmp_path])
    shown = dict(zip(report.records["record_path"].map(lambda p: Path(p).parent.name), report.records["status"]))
    assert shown == {"here_gone": Status.DEAD, "here_alive": Status.RUNNING, "here_reused": Status.DEAD,
                     "here_no_beat": Status.RUNNING, "far_stale": Status.DEAD, "far_fresh": Status.RUNNING}
    assert set(report.records["recorded_status"]) == {Status.RUNNING}
    status = _table(report, "status")
    assert dict(zip(status["status"], status["jobs"])) == {"running": 3, "dead": 3}


def test_paper_figures_only_beside_imagenet_val_with_the_papers_protocol(tmp_path: Path) -> None:
    v3 = MODELS["inception_v3"]
    write_fake(tmp_path, "inet", task="eval", model="inception_v3", data="imagenet", num_classes=1000,
               eval_mode="center", top1=77.5, top5=93.6)
    write_fake(tmp_path, "inet10", task="eval", model="inception_v3", data="imagenet", num_classes=1000,
               eval_mode="10crop", top1=78.9, top5=94.5)
    photos = write_fake(tmp_path, "photos", task="train", model="googlenet", data="imagefolder", num_classes=3,
                        eval_mode="center", top1=28.6, top5=100.0, config={"data": {"root": "/data/my_photos"}})
    report = build_report([tmp_path])

    beside = _table(report, "accuracy")
    assert beside[["model", "top1", "paper_top1"]].values.tolist() == [["inception_v3", 77.5, v3.top1]]
    assert beside["measured_on"].tolist() == ["imagenet, 1000 classes, center crop"]

    other = _table(report, "other_accuracy").set_index("run_id")
    assert "paper_top1" not in other.columns
    assert other.loc[photos["run_id"], "measured_on"] == "imagefolder:my_photos, 3 classes, center crop"
    assert other.loc[photos["run_id"], "top1"] == 28.6
    assert set(other["no_paper_figure_because"]) == {"paper: imagenet_val; measured on another dataset",
                                                    "paper protocol center, measured 10crop"}
    markdown = render_markdown(report)
    photo_line = next(line for line in markdown.splitlines() if "28.6" in line and "my_photos" in line)
    assert str(MODELS["googlenet"].top1) not in photo_line   # GoogLeNet's 71.0 never beside the photo set


def test_tf_book_beside_runs_of_its_protocol_only(tmp_path: Path) -> None:
    same = {k: TF_BOOK[k] for k in ("model", "batch_size", "input_size", "mode", "steps", "burn_in")}
    write_fake(tmp_path, "book", **same, mean_s=0.2, std_s=0.01)
    write_fake(tmp_path, "few_steps", **{**same, "steps": 3}, mean_s=0.3)
    write_fake(tmp_path, "b64", **{**same, "batch_size": 64})
    write_fake(tmp_path, "bf16", **same, precision="bf16", mean_s=0.1)
    report = build_report([tmp_path])
    assert _table(report, "tf_book")["mean_s"].tolist() == [0.168, 0.2]


def test_table3_rows_beside_the_papers_errors_other_datasets_apart(tmp_path: Path) -> None:
    write_fake(tmp_path, "inet", task="train", row="rmsprop", data="imagenet", num_classes=1000, eval_mode="center",
               top1=76.0, top1_err=24.0, top5_err=6.5)
    write_fake(tmp_path, "digits", task="train", row="googlenet", data="digits", num_classes=10, eval_mode="center",
               top1=60.0, top1_err=40.0, top5_err=3.0)
    report = build_report([tmp_path])
    beside = _table(report, "table3")
    assert beside["row"].tolist() == list(RETHINKING_TABLE3)         # every paper row, in the paper's order
    rms = beside.set_index("row").loc["rmsprop"]
    assert (rms["paper_top1_err"], rms["top1_err"]) == (RETHINKING_TABLE3["rmsprop"].top1_err, 24.0)
    assert beside["top1_err"].notna().sum() == 1                      # the digits run is not beside the paper
    other = _table(report, "table3", 1)
    assert other[["row", "top1_err"]].values.tolist() == [["googlenet", 40.0]]


def test_time_to_target_per_run_from_its_curve(tmp_path: Path) -> None:
    curve = {"epoch": [0, 1, 2, 3], "val_top1": [20.0, 70.0, 91.0, 95.0], "train_loss": [2.0, 1.0, 0.5, 0.4]}
    timed = write_fake(tmp_path, "timed", task="train", data="digits", top1=95.0, train_time_s=40.0,
                       curves={**curve, "time_s": [5.0, 9.0, 14.0, 20.0]})
    spread = write_fake(tmp_path, "spread", task="train", data="digits", top1=95.0, train_time_s=40.0, curves=curve)
    never = write_fake(tmp_path, "never", task="train", data="digits", top1=70.0, train_time_s=40.0,
                       curves={**curve, "val_top1": [10.0, 20.0, 30.0, 70.0]})
    report = build_report([tmp_path], target_top1={"digits": 90.0})
    table = _table(report, "training").set_index("run_id")
    assert table.loc[timed["run_id"], ["reached_epoch", "time_to_target_s", "time_estimated"]].tolist() == [2, 14.0, False]
    assert table.loc[spread["run_id"], ["reached_epoch", "time_to_target_s", "time_estimated"]].tolist() == [2, 30.0, True]
    assert pd.isna(table.loc[never["run_id"], "time_to_target_s"])


def test_lines_join_one_sweep_on_one_device_only(tmp_path: Path) -> None:
    for job, batch in enumerate((1, 2, 4)):
        write_fake(tmp_path, f"sweep{job}", sweep_id="s1", job_num=job, batch_size=batch, images_per_s=10.0 * batch)
    write_fake(tmp_path, "lone32", batch_size=32, images_per_s=500.0)
    write_fake(tmp_path, "lone64", batch_size=64, images_per_s=600.0)
    write_fake(tmp_path, "gpu", sweep_id="s1", job_num=3, batch_size=8, images_per_s=9000.0, device_name="NVIDIA H100")
    report = build_report([tmp_path])
    cpu = report.records[report.records["device"] == "Test CPU"]
    (trace,) = series_traces(cpu, "batch_size", "images_per_s", "images/s")
    # the sweep's three points joined, the two lone runs each cut off by a gap (None)
    assert trace["x"] == [1, 2, 4, None, 32, None, 64]
    assert trace["connectgaps"] is False


def test_markdown_and_dashboard_show_the_same_sections(tmp_path: Path) -> None:
    write_fake(tmp_path, "bench")
    write_fake(tmp_path, "served", scenario="server", latency_p50_s=0.01, latency_p99_s=0.02, qps_achieved=90.0)
    write_fake(tmp_path, "train", task="train", data="digits", top1=80.0, curves={"val_top1": [50.0, 80.0]})
    figures = make_report([tmp_path], tmp_path / "out")
    md_headings = re.findall(r"^## (.+)$", Path(figures["report_markdown"]).read_text(), flags=re.M)
    page = Path(figures["report_dashboard"]).read_text()
    assert len(md_headings) >= 4
    for heading in md_headings:
        assert f"<h2>{heading}</h2>" in page     # both escape the same way: '&', '<' and '>' only


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


def test_report_job_is_named_for_the_report_not_the_default_model(tmp_path: Path) -> None:
    write_fake(tmp_path / "results", "bench")
    proc = run_cli("task=report", *TEST_NET, f"paths.results_dir={tmp_path / 'results'}")
    assert proc.returncode == 0, proc.stderr
    (job_dir,) = [p.parent for p in (tmp_path / "results" / "runs").rglob("dashboard.html")]
    assert job_dir.name.endswith("_report") and "tiny_test" not in job_dir.name
