"""bench.profile.enabled=true: per-module time and FLOPs add up, the trace is written, and the depth is handled."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.flop_counter import FlopCounterMode

from bench.benchmark.profile import OTHER, OPTIMIZER, ModuleAttribution, ModuleFlops, module_levels
from lightning_modules.zoo import create_model
from run import run_task
from helpers import TEST_NET

# GoogLeNet at 64x64, batch 4, one thread: steps of tens of milliseconds, where ops (not Python) dominate
PROFILED = ["model=googlenet", "bench.batch_size=4", "bench.input_size=64", "bench.steps=4", "bench.burn_in=1",
            "bench.log_every=0", "bench.threads=1", "logger=none", "bench.profile.enabled=true"]


@pytest.mark.parametrize("mode", ["forward", "forward_backward"])
def test_module_times_and_flops_add_up_to_the_profiled_step(compose_cfg, tmp_path: Path, capsys, mode: str) -> None:
    record = run_task(compose_cfg(*PROFILED, f"bench.mode={mode}"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["profiled"] is True and record["profile_depth"] == 1 and record["profile_overhead"] > 0
    rows = record["modules"]
    names = [row["name"] for row in rows]
    assert {"conv1", "inception3a", "inception5b", "fc"} <= set(names)
    assert ("aux_heads.inception4a" in names) == (mode == "forward_backward")  # aux heads run in training only
    assert (OPTIMIZER in names) == (mode == "forward_backward")
    # self time of every op went to exactly one row: the rows add up to the profiled step
    step = record["mean_s"]
    assert sum(row["time_s"] for row in rows) == pytest.approx(step, rel=0.10)
    assert sum(row["time_share"] for row in rows) == pytest.approx(1.0)
    # every FLOP of the model is inside a module, forward and backward alike: the named rows add up to the count
    named = [row for row in rows if row["name"] not in (OTHER, OPTIMIZER)]
    assert sum(row["gflops"] for row in named) == pytest.approx(record["gflops_per_image_step"], rel=1e-9)
    assert sum(row["flop_share"] for row in named) == pytest.approx(1.0)
    conv3 = rows[names.index("conv3")]
    assert conv3["gflops_per_s"] == pytest.approx(conv3["gflops"] * 4 / conv3["time_s"])
    assert [row["time_s"] for row in rows] == sorted((row["time_s"] for row in rows), reverse=True)
    out = capsys.readouterr().out
    table = out[out.index("Where the time goes"):].splitlines()
    assert [line.split()[0] for line in table[2:2 + len(rows)]] == names  # printed sorted by time, as recorded
    # the Chrome/Perfetto trace beside the record shows the modules as ranges
    trace = Path(record["trace_file"])
    assert trace.parent == tmp_path
    events = json.loads(gzip.decompress(trace.read_bytes()))["traceEvents"]
    assert any(event.get("name") == "module: inception4a" for event in events)


def test_depth_two_splits_stages_into_branches(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*PROFILED, "bench.profile.depth=2", "bench.steps=2"), tmp_path)
    assert record["status"] == "ok", record["error"]
    names = {row["name"] for row in record["modules"]}
    assert {f"inception3a.branches.{i}" for i in range(4)} <= names and "inception3a" not in names
    assert sum(row["gflops"] for row in record["modules"]) == pytest.approx(record["gflops_per_image_step"])


def test_a_depth_beyond_the_model_profiles_its_deepest_level_and_says_so_once(compose_cfg, tmp_path: Path, capsys) -> None:
    record = run_task(compose_cfg(*TEST_NET, "bench.steps=2", "bench.burn_in=0", "bench.log_every=0",
                                  "bench.profile.enabled=true", "bench.profile.depth=9"), tmp_path)
    assert record["status"] == "ok", record["error"]
    levels = module_levels(instantiate(compose_cfg(*TEST_NET).model))
    assert record["profile_depth"] == len(levels) < 9
    out = capsys.readouterr().out
    assert out.count("bench.profile.depth=9 is deeper than this model goes") == 1
    assert {row["name"] for row in record["modules"]} - {OTHER} <= {name for name, _ in levels[-1]}


def test_every_level_partitions_the_parameters() -> None:
    model = create_model("googlenet", num_classes=10)
    levels = module_levels(model)
    assert {"conv1", "maxpool1", "inception3a", "aux_heads.inception4a", "fc"} <= set(dict(levels[0]))
    # through the ModuleList (its name is structure), not into a branch (a Sequential of numbered layers)
    assert "inception3a.branches.1" in dict(levels[1]) and "inception3a.branches.1.0" in dict(levels[2])
    v3 = [name for name, _ in module_levels(create_model("inception_v3", num_classes=10))[0]]
    assert {"Conv2d_1a_3x3", "Mixed_5b", "Mixed_7c", "aux_heads.Mixed_6e"} <= set(v3)
    every = {id(p) for p in model.parameters()}
    for level in levels:
        owned = [id(p) for _, module in level for p in module.parameters()]
        assert len(owned) == len(set(owned)) and set(owned) == every


def test_forward_flops_per_module_match_flop_counter_modes_own_and_backward_is_not_counted_twice() -> None:
    model = create_model("googlenet", num_classes=10).train()
    x = torch.randn(2, 3, 64, 64)
    units = module_levels(model)[0]

    def forward_backward() -> None:
        logits, aux = model(x)
        (logits.sum() + sum(a.sum() for a in aux)).backward()

    reference = FlopCounterMode(display=False)
    with reference:
        model(x)
    with ModuleAttribution(units, ranges=False) as attribution, ModuleFlops(attribution) as mine:
        model(x)
    # FlopCounterMode names modules by their full path (GoogLeNet.features.conv1); ours by the stage (conv1)
    paths = {id(module): path for path, module in model.named_modules()}
    counted = {name: sum(ops.values()) for name, ops in reference.get_flop_counts().items()}
    theirs = {unit: counted[f"{type(model).__name__}.{paths[id(module)]}"] for unit, module in units
              if f"{type(model).__name__}.{paths[id(module)]}" in counted}
    ours = {name: sum(ops.values()) for name, ops in mine.get_flop_counts().items() if name in dict(units)}
    assert ours == theirs
    with ModuleAttribution(units, ranges=False) as attribution, ModuleFlops(attribution) as mine:
        forward_backward()
    training = {name: sum(ops.values()) for name, ops in mine.get_flop_counts().items() if name in dict(units)}
    assert sum(training.values()) == mine.get_total_flops()
    # inception4b sits where aux1 branches off; its backward is its own, not aux1's as well
    assert 2 * ours["inception4b"] <= training["inception4b"] <= 3 * ours["inception4b"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["bench.profile.enabled=true", "bench.compile=default"], "bench.profile.enabled=true needs bench.compile=false"),
        (["bench.profile.depth=0"], "bench.profile.depth must be a positive integer, got 0"),
    ],
)
def test_bad_profile_options_are_one_line(compose_cfg, tmp_path: Path, overrides: list[str], message: str) -> None:
    record = run_task(compose_cfg(*TEST_NET, *overrides), tmp_path)
    assert record["status"] == "error" and message in record["error"]
