"""The record schema (``contracts.record``) and its reader (``contracts.reader``): typed areas, the v1 upgrade,
named problems, every field a job writes declared, and a field spelled as a string in the schema only."""
from __future__ import annotations

import ast
import json
import logging
import signal
from pathlib import Path
from typing import Any

import pytest

from bench.benchmark.machine import GPU_FIELDS
from bench.benchmark.scenarios import SCENARIO_FIELDS
from bench.job.lifecycle import interrupted_fields
from bench.job.record import RecordProblem, read_record, write_record
from bench.job.signals import StopSignal
from bench.report.records import KNOWN
from contracts.reader import Problem, Record, validate_record
from contracts.record import AREAS, FIELDS, REQUIRED, SCHEMA_VERSION, F, GpuState, Latency, Offline, Repeats, Server, Timing, names
from helpers import REPO, SYNTHETIC_DATA, TEST_NET, fake_record, run_train_job
from run import run_task


def _json(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a reader finds it on disk."""
    return json.loads(json.dumps(record))


# ------------------------------------------------------------------------------------------- reading
def test_a_record_reads_as_its_typed_areas() -> None:
    raw = _json(fake_record(mean_s=0.02, future_field={"any": "shape"}))
    record = validate_record(raw, "r.json")
    assert isinstance(record, Record)
    assert record.area(Timing).mean_s == 0.02 and record.area(Timing).images_per_s == 200.0
    assert record.extra == {"future_field": {"any": "shape"}}   # unknown: kept, never type-checked
    assert record.flat() == raw


def test_a_version_1_record_is_upgraded() -> None:
    raw = _json(fake_record(schema_version=1, step_times_s=None))
    record = validate_record(raw, "old.json")
    assert isinstance(record, Record)
    assert record.fields[F.schema_version] == SCHEMA_VERSION == 2
    assert {k: v for k, v in record.flat().items() if k != F.schema_version} == {
        k: v for k, v in raw.items() if k != F.schema_version}


def test_ints_pass_for_floats_and_null_for_optional_fields() -> None:
    raw = _json(fake_record(mean_s=1, images_per_s=None, batch_size="auto", heartbeat_at=1_700_000_000))
    assert isinstance(validate_record(raw, "r.json"), Record)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({F.device_count: "two"}, F.device_count, "expected int or null, got 'two'"),
        ({F.batch_size: "big"}, F.batch_size, "expected int or 'auto' or null, got 'big'"),
        ({F.device_count: True}, F.device_count, "got True"),              # a bool is not a count
        ({F.mean_s: False}, F.mean_s, "expected float or null, got False"),
        ({F.step_times_s: [0.01, "slow"]}, F.step_times_s, "expected list of float or null"),
        ({F.noisy: "yes"}, F.noisy, "expected bool or null"),
        ({F.status: "finished"}, F.status, "unknown status 'finished'; valid: running, ok"),
        ({F.status: None}, F.status, "missing (required in every record)"),
        ({F.schema_version: 99}, F.schema_version, "unknown version 99 (this harness reads 1, 2; a newer harness"),
        ({F.schema_version: "2"}, F.schema_version, "missing or not an integer ('2')"),
    ],
)
def test_a_bad_field_is_a_problem_naming_file_and_field(change: dict[str, Any], field: str, message: str) -> None:
    problem = validate_record(_json(fake_record(**change)), "runs/7/record.json")
    assert isinstance(problem, Problem)
    assert (problem.path, problem.field) == ("runs/7/record.json", field)
    assert message in problem.message
    assert str(problem).startswith(f"runs/7/record.json: field {field!r}: ")


@pytest.mark.parametrize("field", REQUIRED)
def test_a_missing_required_field_is_named(field: str) -> None:
    raw = {k: v for k, v in _json(fake_record()).items() if k != field}
    problem = validate_record(raw, "r.json")
    assert isinstance(problem, Problem) and problem.field == field


def test_not_an_object_is_a_problem_of_the_whole_file() -> None:
    problem = validate_record([{"run_id": "x"}], "r.json")
    assert isinstance(problem, Problem) and problem.field is None
    assert str(problem) == "r.json: expected a JSON object, got list"


def test_a_record_the_schema_rejects_is_written_with_a_warning_and_refused_on_reading(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="bench.job.record"):
        path = write_record(fake_record(device_count="two"), tmp_path)   # a producer's bug never loses the figures
    assert json.loads(path.read_text())[F.device_count] == "two"
    assert "field 'device_count': expected int or null, got 'two'" in caplog.text
    with pytest.raises(RecordProblem, match="field 'device_count'"):
        read_record(path)


# ------------------------------------------------------------------------------------ the field names
def test_f_names_each_field_once_and_the_lists_come_from_the_schema() -> None:
    assert F.images_per_s == "images_per_s"
    with pytest.raises(AttributeError):
        F.images_per_sec  # noqa: B018 - a typo is an error, not a new column
    declared = names(*AREAS)
    assert len(declared) == len(set(declared)) == len(FIELDS)
    assert SCENARIO_FIELDS == names(Latency, Server, Offline, Repeats) and GPU_FIELDS == names(GpuState)
    assert set(KNOWN) <= set(FIELDS) and set(REQUIRED) <= set(KNOWN) | {F.schema_version}


TINY = (*TEST_NET, "bench.input_size=16", "bench.burn_in=1", "bench.threads=1", "bench.log_every=0", "bench.steps=3")


@pytest.mark.parametrize("overrides", [
    ("bench.profile.enabled=true",),
    ("bench=single_stream", "bench.single_stream.min_queries=8", "bench.single_stream.min_duration_s=0"),
    ("bench=offline", "bench.batch_size=2", "bench.offline.blocks=2", "bench.offline.block_steps=2"),
    ("bench=server", "bench.server.search_qps=false", "bench.server.target_qps=400", "bench.server.min_duration_s=0"),
], ids=["tf_book_profiled", "single_stream", "offline", "server"])
def test_every_field_a_benchmark_writes_is_declared(compose_cfg, tmp_path: Path, overrides: tuple[str, ...]) -> None:
    record = run_task(compose_cfg(*TINY, *overrides), tmp_path)
    assert record[F.status] == "ok", record[F.error]
    on_disk = read_record(tmp_path / "record.json")   # through the schema: every known field well-typed
    assert set(on_disk) - set(FIELDS) == set()


def test_every_field_training_and_its_report_write_is_declared(compose_cfg, tmp_path: Path) -> None:
    record = run_train_job(tmp_path / "train", *SYNTHETIC_DATA)
    assert record[F.status] == "ok", record[F.error]
    assert set(read_record(tmp_path / "train" / "record.json")) - set(FIELDS) == set()
    report = run_task(compose_cfg(*TEST_NET, "task=report", f"report.dirs=[{tmp_path / 'train'}]"), tmp_path / "report")
    assert report[F.status] == "ok", report[F.error]
    assert report[F.n_records] == 1
    assert set(read_record(tmp_path / "report" / "record.json")) - set(FIELDS) == set()
    stopped = interrupted_fields(StopSignal(signal.SIGTERM), 3)
    assert set(stopped) <= set(FIELDS) and isinstance(validate_record(_json({**record, **stopped}), "r"), Record)


# ------------------------------------------------------------------------------ one spelling per field
RUNTIME = ("run.py", "bench", "lightning_modules", "contracts")
SCHEMA = "contracts/record.py"
# (module, literal) -> why a string constant equal to a record field's name is not that field ("*": any module)
ALLOWED = {
    ("lightning_modules/batch_augment.py", "torch"): "the data.augment_kernel choice (torch's operations)",
    ("lightning_modules/batch_augment.py", "compile"): "the data.augment_kernel choice (torch.compile's)",
    ("lightning_modules/data.py", "device"): "the data.augment_on choice (the batch step on the training device)",
    ("*", "cpu"): "a torch device type (device.type, map_location), not the record's CPU model",
    ("*", "cuda"): "a torch device type, not the record's CUDA version",
    ("bench/benchmark/batch_search.py", "mode"): "a key of the probe process's spec",
    ("bench/benchmark/batch_search.py", "precision"): "a key of the probe process's spec",
    ("bench/benchmark/workload.py", "num_classes"): "the model's attribute",
    ("bench/job/environment.py", "torchvision"): "the package whose version is read",
    ("bench/job/environment.py", "lightning"): "the package whose version is read",
    ("bench/job/environment.py", "status"): "`git status`",
    ("bench/job/isolation.py", "task"): "the isolated child's job.json: the task function's import path",
    ("bench/job/isolation.py", "out_dir"): "the isolated child's job.json",
    ("bench/job/liveness.py", "heartbeat_interval_s"): "the config option of that name",
    ("bench/job/record.py", "model"): "the config group",
    ("bench/job/record.py", "data"): "the config group",
    ("bench/benchmark/nvml.py", "pid"): "a key of one gpu_foreign_processes entry (the neighbour's pid)",
    ("bench/benchmark/nvml.py", "power_w"): "an NVML Sample's attribute",
    ("contracts/config.py", "data"): "the config group data (its schemas' ConfigStore names)",
    ("contracts/config.py", "steps"): "the option bench.steps, range-checked by the config schema",
    ("contracts/config.py", "repeats"): "the option bench.repeats, range-checked by the config schema",
    ("contracts/config.py", "input_size"): "the option bench.input_size, range-checked by the config schema",
    ("contracts/config_sections.py", "data"): "the config group data, named in its check's messages",
    ("contracts/config_sections.py", "num_classes"): "the option data.num_classes, range-checked",
    ("contracts/config_sections.py", "batch_size"): "the option data.batch_size, range-checked",
    ("contracts/job.py", "overrides"): "the job spec's own attribute of that name",
    ("bench/job/tracking.py", "mode"): "the logger config's mode",
    ("contracts/status.py", "error"): "the status value error",
    ("bench/report/figures.py", "mode"): "plotly's trace mode",
    ("bench/report/figures.py", "data"): "plotly's figure data and error_y type",
    ("bench/report/plotspec.py", "data"): "plotly's figure data",
    ("bench/report/compare.py", "out_dir"): "the option compare.out_dir (where the compare writes its files)",
    ("bench/report/compare.py", "seed"): "the option compare.seed (the bootstrap's seed)",
    ("bench/report/compare.py", "target_top1"): "the compare's options: report.target_top1",
    ("bench/report/compare_view.py", "seed"): "the option compare.seed, in the view's caption",
    ("bench/report/compare_view.py", "mode"): "plotly's trace mode",
    ("bench/report/compare_view.py", "data"): "plotly's error_x type",
    ("bench/report/compare_stats.py", "noisy"): "the verdict noisy (a record's noisy flag is F.noisy)",
    ("bench/report/time_to_accuracy_figures.py", "mode"): "plotly's trace mode",
    ("bench/report/time_to_accuracy_figures.py", "model"): "a run-table row's key inside an f-string label",
    ("bench/report/time_to_accuracy_figures.py", "recipe"): "a run-table row's key inside an f-string label",
    ("bench/report/time_to_accuracy_figures.py", "device"): "a run-table row's key inside an f-string label",
    ("bench/report/task.py", "target_top1"): "the option report.target_top1",
    ("bench/training/time_to_accuracy.py", "epochs"): "a key of TimeToTarget's reached-at summary",
    ("lightning_modules/callbacks.py", "mode"): "ModelCheckpoint's mode (max)",
    ("lightning_modules/callbacks.py", "epochs"): "a key of TimeToTarget's reached-at summary",
    ("lightning_modules/callbacks.py", "top1"): "a key of TimeToTarget's reached-at summary",
    ("lightning_modules/throughput.py", "batch_size"): "the DataModule's attribute",
    ("lightning_modules/mllog.py", "seed"): "MLPerf's :::MLLOG key of that name",
    ("bench/report/figures.py", "status"): "a section key",
    ("bench/report/figures.py", "utilization"): "a section key",
    ("bench/report/sections.py", "status"): "a section key",
    ("bench/report/sections.py", "utilization"): "a section key",
    ("lightning_modules/classifier.py", "params"): "torch's optimizer param groups",
    ("lightning_modules/classifier.py", "skipped_images"): "the Lightning checkpoint's key",
    ("run.py", "config"): "Hydra's config_name",
    ("run.py", "task"): "the option task, checked",
}


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module but its docstrings, with its line."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_a_record_field_is_spelled_as_a_string_in_the_schema_only() -> None:
    files = [REPO / "run.py", *(p for top in RUNTIME[1:] for p in (REPO / top).rglob("*.py"))]
    used: set[tuple[str, str]] = set()
    spelled = []
    for path in files:
        module = str(path.relative_to(REPO))
        if module == SCHEMA:
            continue
        for line, text in _string_constants(path):
            if text not in FIELDS:
                continue
            allowed = next((key for key in ((module, text), ("*", text)) if key in ALLOWED), None)
            if allowed:
                used.add(allowed)
            else:
                spelled.append(f"{module}:{line}: {text!r} (write F.{text})")
    assert spelled == []
    assert set(ALLOWED) - used == set(), "allow-list entries that no longer match anything"
