"""The config schema (contracts/config.py): every preset composes on it; typos, wrong types, bad choices and
values out of range are refused with one line naming the key and what is valid, at composition or before any
work; on the command line in one line of stderr, before torch is imported."""
from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from bench.job.config import check_config
from contracts.config import (BenchConfig, Input, LoaderConfig, Mode, OfflineConfig, Precision, ProfileConfig, Scenario,
                              ServerConfig, SingleStreamConfig, validate)
from contracts.config_errors import one_line
from contracts.config_sections import (ClassifierConfig, OptimConfig, ReportConfig, ScheduleConfig, SyntheticDataConfig,
                                       TrainConfig)
from contracts.errors import ConfigError
from helpers import CONF_DIR, REPO, TEST_NET, run_cli

GROUPS = ("bench", "data", "optim", "classifier", "train", "report", "experiment")
PRESETS = [(group, p.stem) for group in GROUPS for p in sorted((REPO / "conf" / group).glob("*.yaml"))]
ROWS = sorted(p.stem for p in (REPO / "conf" / "ablation" / "rethinking_table3").glob("*.yaml"))
NEEDS = {("data", "imagefolder"): ["data.num_classes=3", "data.root=/data/photos"]}


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _refusal(*overrides: str) -> str:
    """The one line a composition or the schema's checks give for these overrides."""
    try:
        validate(_compose(*overrides))
    except (HydraException, ConfigError) as exc:
        line = one_line(exc)
        assert line is not None and "\n" not in line, line
        return line
    raise AssertionError(f"{overrides} were accepted")


@pytest.mark.parametrize(("group", "name"), PRESETS)
def test_every_preset_composes_on_its_schema_and_passes_its_checks(group: str, name: str) -> None:
    cfg = _compose(f"{group}={name}", *NEEDS.get((group, name), []))
    validate(cfg)
    assert isinstance(OmegaConf.to_object(cfg.bench), BenchConfig)
    assert OmegaConf.get_type(cfg.optim) is OptimConfig and OmegaConf.get_type(cfg.report) is ReportConfig
    assert OmegaConf.get_type(cfg.classifier) is ClassifierConfig and OmegaConf.get_type(cfg.train) is TrainConfig


@pytest.mark.parametrize("row", ROWS)
def test_every_ablation_row_composes(row: str) -> None:
    cfg = _compose("experiment=rethinking_table3", f"ablation/rethinking_table3={row}")
    validate(cfg)
    assert cfg.ablation.row == row


SECTIONS = {"bench": BenchConfig, "bench.single_stream": SingleStreamConfig, "bench.server": ServerConfig,
            "bench.offline": OfflineConfig, "bench.loader": LoaderConfig, "bench.profile": ProfileConfig,
            "data": SyntheticDataConfig, "optim": OptimConfig, "optim.schedule": ScheduleConfig, "report": ReportConfig,
            "classifier": ClassifierConfig, "train": TrainConfig}


@pytest.mark.parametrize("plus", ["", "+"], ids=["override", "append"])
@pytest.mark.parametrize(("section", "schema"), SECTIONS.items(), ids=list(SECTIONS))
def test_a_typo_in_every_section_is_refused_naming_the_valid_keys(section: str, schema: type, plus: str) -> None:
    # `key=` fails at composition (Hydra); `+key=` gets past Hydra, which adds keys even to a typed node
    line = _refusal(f"{plus}{section}.batchsize=8")
    assert line.startswith(f"unknown key {section}.batchsize; valid keys of {section}: ")
    assert line.endswith(", ".join(f.name for f in fields(schema)))


@pytest.mark.parametrize(("key", "choices"), [("bench.scenario", Scenario), ("bench.mode", Mode),
                                              ("bench.precision", Precision), ("bench.input", Input)])
def test_enums_reject_a_bad_value_naming_the_choices(key: str, choices: type) -> None:
    assert _refusal(f"{key}=nope") == f"{key}: invalid value 'nope'; valid choices: {', '.join(c.value for c in choices)}"


def test_enum_values_are_plain_text_in_records_and_messages() -> None:
    cfg = _compose("bench=train_step")
    assert json.dumps({"mode": cfg.bench.mode}) == '{"mode": "forward_backward"}'
    assert f"{cfg.bench.precision}|{cfg.bench.scenario!s}" == "fp32|tf_book" and cfg.bench.mode == "forward_backward"
    assert "mode: forward_backward" in OmegaConf.to_yaml(cfg.bench)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["bench.steps=abc"], "bench.steps: value 'abc' of type 'str' could not be converted to Integer"),
        (["bench.server.max_batch=1.5"], "bench.server.max_batch: value '1.5' of type 'float' could not be converted to Integer"),
        (["bench.batch_size=big"], "bench.batch_size must be a positive integer or auto, got 'big'"),
        (["bench.compile=fast"], "unknown bench.compile 'fast'; valid choices: False, default, reduce-overhead, "
                                 "max-autotune, max-autotune-no-cudagraphs"),
        (["bench.server.slo_ms=-1"], "bench.server.slo_ms must be a number > 0, got -1.0"),
        (["bench.burn_in=-1"], "bench.burn_in must be a non-negative integer, got -1"),
        (["bench.loader.read_latency_ms=5"], "bench.loader.read_latency_ms applies to the data loader: add bench.input=loader"),
        (["bench=server", "bench.profile.enabled=true"],
         "bench.profile.enabled=true profiles fixed batches (bench.scenario=tf_book), not server"),
        (["data.batch_size=0"], "data.batch_size must be a positive integer, got 0"),
        (["data.timeout_s=-1"], "data.timeout_s must be a number >= 0, got -1.0"),
        (["data=mnist", "data.val_fraction=1.5"], "data.val_fraction must be a number in (0, 1), got 1.5"),
        (["optim.schedule.gamma=0"], "optim.schedule.gamma must be a number > 0, got 0.0"),
        (["optim.optimizer.lr=-0.1"], "optim.optimizer.lr must be a number > 0, got -0.1"),
        (["classifier.label_smoothing=1"], "classifier.label_smoothing must be a number in [0, 1) (Rethinking Sec.7 "
                                            "uses 0.1), got 1.0"),
        (["classifier.label_smoothing=abc"], "classifier.label_smoothing: value 'abc' of type 'str' could not be "
                                             "converted to Float"),
        (["classifier.aux_loss_weight=-0.3"], "classifier.aux_loss_weight must be a number >= 0, got -0.3"),
        (["classifier.channels_last=maybe"], "classifier.channels_last: value 'maybe' is not a valid bool (type str)"),
        (["train.target_top1=101"], "train.target_top1 must be a top-1 accuracy in % between 0 and 100 (or null), "
                                    "got 101.0"),
        (["train.seeds=0"], "train.seeds must be a whole number of runs >= 1 (MLPerf asks for 5), got 0"),
        (["train.seeds=five"], "train.seeds: value 'five' of type 'str' could not be converted to Integer"),
        (["train.reference_epochs=0"], "train.reference_epochs must be a positive number of epochs (or null), got 0.0"),
        (["train.stop_at_target=sometimes"], "train.stop_at_target: value 'sometimes' is not a valid bool (type str)"),
        (["report.dirs=[]"], "report.dirs is empty: give the results dirs to gather, e.g. report.dirs=[results]"),
        (["model=resnet50"], "In 'config': Could not find 'model/resnet50' Available options in 'model': block_conv5x5, "),
    ],
)
def test_bad_values_are_one_line_naming_the_key_and_what_is_valid(overrides: list[str], line: str) -> None:
    assert _refusal(*overrides).startswith(line)


def test_the_schema_checks_a_config_built_in_python_too() -> None:
    assert BenchConfig(server=ServerConfig(qps_min=5, qps_max=50)).server.qps_max == 50
    with pytest.raises(ConfigError, match=r"^bench\.server\.qps_min \(50\) must be below bench\.server\.qps_max \(5\)$"):
        BenchConfig(server=ServerConfig(qps_min=50, qps_max=5))
    with pytest.raises(ConfigError, match=r"^bench\.scenario=single_stream serves one query at a time"):
        BenchConfig(scenario=Scenario.single_stream)


def test_the_job_checks_the_schema_before_any_work() -> None:
    """``check_config``, which every job runs first, includes the schema's checks (a sweep records the line)."""
    with pytest.raises(ConfigError, match=r"^bench\.offline\.blocks must be a positive integer, got 0$"):
        check_config(_compose("bench.offline.blocks=0"))


CLI_CASES = [
    ("bench.batchsize=8", "unknown key bench.batchsize; valid keys of bench: scenario, mode, batch_size,"),
    ("+bench.batchsize=8", "unknown key bench.batchsize; valid keys of bench: scenario, mode, batch_size,"),
    ("bench.steps=abc", "bench.steps: value 'abc' of type 'str' could not be converted to Integer"),
    ("bench.server.slo_ms=-1", "bench.server.slo_ms must be a number > 0, got -1.0"),
    ("bench.precision=fp64", "bench.precision: invalid value 'fp64'; valid choices: fp32, bf16, fp16"),
    ("classifier.label_smoothing=2", "classifier.label_smoothing must be a number in [0, 1)"),
]


@pytest.mark.parametrize(("override", "line"), CLI_CASES, ids=[o for o, _ in CLI_CASES])
def test_run_py_refuses_a_bad_option_in_one_line_before_any_model_is_built(tmp_path: Path, override: str,
                                                                           line: str) -> None:
    start = time.monotonic()
    proc = run_cli(override, f"paths.results_dir={tmp_path}", timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(f"error: {line}")
    assert not list(tmp_path.rglob("record.json")), "the job never started (Hydra's own run dir may exist)"
    assert elapsed < 15, f"{elapsed:.1f} s: the refusal should come before torch is imported"  # ~1-2 s when idle


@pytest.mark.slow
def test_run_py_sweep_records_a_bad_value_and_goes_on(tmp_path: Path) -> None:
    """In a multirun a refused job gets its record (status error, the one line) and the other jobs run; the jobs
    are isolated (a child process each, given the config as plain YAML): the parent checks before it spawns."""
    proc = run_cli("-m", *TEST_NET, "bench.input_size=16", "bench.steps=1", "bench.burn_in=0", "bench.batch_size=1",
                   "bench.log_every=0", "report.after_sweep=false",
                   "bench.server.slo_ms=-1,100", f"paths.results_dir={tmp_path}", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = sorted((json.loads(p.read_text()) for p in tmp_path.rglob("record.json")), key=lambda r: r["job_num"])
    assert [r["status"] for r in found] == ["error", "ok"]
    assert found[0]["error"] == "bench.server.slo_ms must be a number > 0, got -1.0"
