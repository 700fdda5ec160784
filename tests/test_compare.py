"""task=compare: pairing rules, verdicts and the machine's state, bad input as one line, the gate's exit code,
the outputs, and records of real tiny runs (per-repeat results in every scenario)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.report.compare import compare, options
from contracts.status import Status
from helpers import TEST_NET, run_cli, write_fake

CHROMIUM = Path("/usr/bin/chromium")
TINY = (*TEST_NET, "bench.input_size=16", "bench.burn_in=1", "bench.threads=1", "bench.log_every=0")


def steps(speed: float, seed: int, n: int = 30) -> list[float]:
    """Step times around 10 ms / speed: a run effect (2 %) and step noise (10 %), both lognormal."""
    rng = np.random.default_rng(seed)
    return list(0.01 / speed * np.exp(rng.normal(0, 0.02) + rng.normal(0, 0.1, n)))


def write_runs(root: Path, name: str, speed: float, runs: int = 3, seed: int = 0, **fields: Any) -> None:
    for r in range(runs):
        times = steps(speed, seed * 100 + r)
        write_fake(root, f"{name}/{r}", step_times_s=times, repeat_means_s=[float(np.mean(times))],
                   images_per_s=2 / float(np.mean(times)), **fields)


def opts(compose_cfg, *overrides: str) -> dict[str, Any]:
    return options(compose_cfg("task=compare", *overrides))


def by_model(result) -> dict[str, Any]:
    return {p.key["model"]: p for p in result.pairs}


def test_pairs_match_every_setting_but_the_compared_key_and_name_what_did_not_pair(compose_cfg, tmp_path) -> None:
    for side, speed in (("a", 1.0), ("b", 1.3)):
        write_runs(tmp_path, f"{side}/gn", speed, model="googlenet", git_commit=side, seed=ord(side))
        write_runs(tmp_path, f"{side}/v3", speed, model="inception_v3", git_commit=side, seed=ord(side) + 1)
    write_runs(tmp_path, "a/bs8", 1.0, model="googlenet", batch_size=8, git_commit="a")        # batch 8: baseline only
    write_fake(tmp_path, "b/failed", model="xception", status=Status.OOM, git_commit="b")      # not ok: left out
    result = compare(opts(compose_cfg, "compare.by=git_commit", f"compare.dirs=[{tmp_path}]"))
    assert (result.baseline_label, result.candidate_label) == ("a", "b")
    assert "git_commit" not in result.keys and "batch_size" in result.keys
    assert sorted(by_model(result)) == ["googlenet", "inception_v3"]
    assert all(len(p.baseline) == len(p.candidate) == 3 for p in result.pairs)   # three runs a side, batch 2 only
    assert result.unpaired == ["baseline only: model=googlenet batch_size=8 input_size=64 precision=fp32 "
                               "memory_format=contiguous compile=off scenario=- mode=forward device=Test CPU (3 records)"]
    assert any("1 records left out" in n for n in result.notes)
    assert {p.verdict for p in result.pairs} == {"faster"}


def test_two_machines_dirs_pair_across_devices_and_a_shared_device_pairs_within(compose_cfg, tmp_path) -> None:
    write_runs(tmp_path / "a100", "gn", 1.0, model="googlenet", device_name="NVIDIA A100")
    write_runs(tmp_path / "h100", "gn", 2.0, model="googlenet", device_name="NVIDIA H100")
    result = compare(opts(compose_cfg, f"compare.baseline={tmp_path / 'a100'}", f"compare.candidate={tmp_path / 'h100'}"))
    assert "device" not in result.keys and len(result.pairs) == 1 and result.pairs[0].verdict == "faster"
    assert 1.8 < result.pairs[0].interval.ratio < 2.2
    write_runs(tmp_path / "h100", "gn_a100", 1.0, model="googlenet", device_name="NVIDIA A100")  # both sides: A100
    result = compare(opts(compose_cfg, f"compare.baseline={tmp_path / 'a100'}", f"compare.candidate={tmp_path / 'h100'}"))
    assert "device" in result.keys and [p.key["device"] for p in result.pairs] == ["NVIDIA A100"]
    assert result.unpaired[0].startswith("candidate only: model=googlenet") and "NVIDIA H100" in result.unpaired[0]


@pytest.mark.parametrize("flag, label", [({"noisy": True}, "noisy (load above its threads)"),
                                         ({"throttled": True}, "throttled"),
                                         ({"gpu_clock_sm_mhz": 1410}, "different clocks: SM 1980 vs 1410 MHz")])
def test_noisy_throttled_or_different_clocks_are_labelled_never_faster(compose_cfg, tmp_path, flag, label) -> None:
    write_runs(tmp_path, "a", 1.0, model="googlenet", git_commit="a", gpu_clock_sm_mhz=1980)
    write_runs(tmp_path, "b", 1.5, model="googlenet", git_commit="b", **{"gpu_clock_sm_mhz": 1980, **flag})
    pair = compare(opts(compose_cfg, "compare.by=git_commit", f"compare.dirs=[{tmp_path}]")).pairs[0]
    assert (pair.verdict, pair.call) == ("noisy", "faster")
    assert pair.notes[0].startswith(label)


def test_a_single_run_per_side_says_it_has_too_few_repeats(compose_cfg, tmp_path) -> None:
    write_runs(tmp_path, "a", 1.0, runs=1, model="googlenet", git_commit="a")
    write_runs(tmp_path, "b", 1.5, runs=1, model="googlenet", git_commit="b")
    pair = compare(opts(compose_cfg, "compare.by=git_commit", f"compare.dirs=[{tmp_path}]")).pairs[0]
    assert pair.verdict == "inconclusive" and "too few repeats" in pair.notes[0]


def test_scenarios_are_judged_by_their_own_figure(compose_cfg, tmp_path) -> None:
    rng = np.random.default_rng(0)
    for side, scale in (("a", 1.0), ("b", 0.5)):
        for r in range(3):
            lat = list(rng.exponential(0.01 * scale, 2000))
            write_fake(tmp_path, f"{side}/ss{r}", scenario="single_stream", batch_size=1, step_times_s=lat,
                       repeat_queries=[1000, 1000], git_commit=side)
            write_fake(tmp_path, f"{side}/sv{r}", scenario="server", batch_size=8, repeat_max_qps_at_slo=[50 / scale + r],
                       max_qps_at_slo=50 / scale + r, git_commit=side)
            write_fake(tmp_path, f"{side}/off{r}", scenario="offline", batch_size=4, images_per_s=400 / scale,
                       block_times_s=list(0.1 * scale * np.exp(rng.normal(0, 0.02, 5))), git_commit=side)
    result = compare(opts(compose_cfg, "compare.by=git_commit", f"compare.dirs=[{tmp_path}]"))
    kinds = {p.key["scenario"]: (p.kind, p.interval.n_baseline, p.verdict) for p in result.pairs}
    assert kinds == {"single_stream": ("p99", 3, "faster"), "server": ("max_qps", 3, "faster"),
                     "offline": ("throughput", 3, "faster")}


def test_training_pairs_by_time_to_target_else_not_comparable(compose_cfg, tmp_path) -> None:
    for side, times in (("a", [10.0, 20.0, 30.0]), ("b", [5.0, 10.0, 15.0])):
        for r in range(2):
            write_fake(tmp_path, f"{side}/t{r}", task="train", data="digits", git_commit=side, scenario=None, mode=None,
                       curves={"epoch": [0, 1, 2], "val_top1": [50.0, 91.0 + r, 95.0], "time_s": times})
            write_fake(tmp_path, f"{side}/m{r}", task="train", data="mnist", git_commit=side, model="xception",
                       scenario=None, mode=None, curves={"epoch": [0], "val_top1": [10.0], "time_s": [1.0]})
    result = compare(opts(compose_cfg, "compare.by=git_commit", f"compare.dirs=[{tmp_path}]"))
    pairs = by_model(result)
    assert pairs["googlenet"].kind == "time_to_target" and pairs["googlenet"].interval.ratio == pytest.approx(2.0)
    assert pairs["xception"].kind is None and "not comparable" in pairs["xception"].notes[0]


def test_efficiency_per_watt_and_per_price(compose_cfg, tmp_path) -> None:
    write_runs(tmp_path / "a", "gn", 1.0, model="googlenet", device_name="GPU A", power_w=100.0)
    write_runs(tmp_path / "b", "gn", 2.0, model="googlenet", device_name="GPU B", power_w=400.0)
    result = compare(opts(compose_cfg, f"compare.baseline={tmp_path / 'a'}", f"compare.candidate={tmp_path / 'b'}",
                          "compare.price_per_hour={GPU A: 1.0, GPU B: 4.0}"))
    extra = result.pairs[0].extra
    assert extra["candidate_img_s_per_w"] / extra["baseline_img_s_per_w"] == pytest.approx(0.5, rel=0.1)
    assert extra["baseline_images_per_price"] == pytest.approx(extra["baseline_value"] * 3600, rel=0.05)


@pytest.mark.parametrize("setup, overrides, line", [
    ("empty", ("compare.by=git_commit",), "no record.json under"),
    ("one", ("compare.by=git_commit",), "compare.by=git_commit needs exactly two values to compare, the records hold "
                                        "only one value: a"),
    ("three", ("compare.by=git_commit",), "the records hold 3 values: a, b, c"),
    ("three", ("compare.by=no_such_field",), "compare.by=no_such_field: no record has that field"),
    ("unpaired", ("compare.by=git_commit",), "nothing paired: no setting"),
    ("three", ("compare.by=git_commit", "compare.threshold=2"), "compare.threshold must be a number in (0, 1), got 2"),
    ("three", (), "nothing to compare: give compare.baseline="),
    ("three", ("compare.by=git_commit", "compare.fail_on=faster"), "unknown compare.fail_on 'faster'; valid choices"),
])
def test_bad_input_is_one_line_in_the_record(compose_cfg, tmp_path, setup, overrides, line) -> None:
    from run import run_task

    data = tmp_path / "data"
    data.mkdir()
    values = {"empty": [], "one": ["a"], "three": ["a", "b", "c"], "unpaired": ["a", "b"]}[setup]
    for i, value in enumerate(values):  # "unpaired": each commit at its own batch size
        write_fake(data, value, git_commit=value, batch_size=2 + (i if setup == "unpaired" else 0))
    record = run_task(compose_cfg("task=compare", f"compare.dirs=[{data}]", *overrides), tmp_path / "job")
    assert record["status"] == Status.ERROR and line in record["error"]
    assert "\n" not in record["error"]


def test_gate_exit_code_through_run_py(tmp_path) -> None:
    write_runs(tmp_path / "old", "gn", 1.0, model="googlenet")
    write_runs(tmp_path / "new", "gn", 0.7, model="googlenet", seed=5)    # 30 % slower
    args = ("task=compare", f"compare.baseline={tmp_path / 'old'}", f"compare.candidate={tmp_path / 'new'}",
            f"paths.results_dir={tmp_path / 'results'}", "logger=none")
    gated = run_cli(*args, "compare.fail_on=slower")
    assert gated.returncode == 1
    assert gated.stderr.strip().splitlines()[-1].startswith("error: compare error: regression gate: 1 pair(s) slower "
                                                             "beyond 3%: model=googlenet")
    record = json.loads(next((tmp_path / "results").rglob("record.json")).read_text())
    assert record["status"] == "error" and record["n_slower"] == 1 and Path(record["compare_csv"]).is_file()
    assert run_cli(*args).returncode == 0                            # no gate: the verdict is reported, the job is ok
    reverse = run_cli("task=compare", f"compare.baseline={tmp_path / 'new'}", f"compare.candidate={tmp_path / 'old'}",
                      f"paths.results_dir={tmp_path / 'results2'}", "logger=none", "compare.fail_on=slower")
    assert reverse.returncode == 0, reverse.stderr                   # faster never trips the gate
    table = pd.read_csv(next((tmp_path / "results2").rglob("compare.csv")))
    assert table[["verdict", "runs"]].values.tolist() == [["faster", "3/3"]]
    assert "suite: geomean ratio" in next((tmp_path / "results2").rglob("compare.md")).read_text()


@pytest.mark.parametrize("scenario, overrides, lists", [
    ("offline", ("bench=offline", "bench.batch_size=2", "bench.offline.blocks=2", "bench.offline.block_steps=2"),
     {"repeat_block_times_s": 2, "repeat_images_per_s": 2}),
    ("single_stream", ("bench=single_stream", "bench.single_stream.min_queries=5",
                       "bench.single_stream.min_duration_s=0"),
     {"repeat_queries": 2, "repeat_latency_p99_s": 2}),
    ("server", ("bench=server", "bench.server.search_qps=false", "bench.server.target_qps=200",
                "bench.server.min_queries=20", "bench.server.min_duration_s=0"), {"repeat_max_qps_at_slo": 2, "repeat_latency_p99_s": 2}),
])
def test_every_scenario_keeps_its_repeats(compose_cfg, tmp_path, scenario, overrides, lists) -> None:
    from run import run_task

    record = run_task(compose_cfg(*TINY, "bench.repeats=2", *overrides), tmp_path)
    assert record["status"] == Status.OK, record["error"]
    assert {k: len(record[k]) for k in lists} == lists
    if scenario == "single_stream":
        assert sum(record["repeat_queries"]) == len(record["step_times_s"]) == record["queries"]
    if scenario == "offline":
        assert len(record["block_times_s"]) == 4


def test_real_tiny_runs_compare_end_to_end_with_the_dashboard_view(compose_cfg, tmp_path) -> None:
    from run import run_task

    for i, layout in enumerate(("false", "true", "false", "true")):   # interleaved, as a compare's runs should be
        run_task(compose_cfg(*TINY, "bench.steps=5", f"bench.channels_last={layout}"), tmp_path / "runs" / str(i))
    record = run_task(compose_cfg("task=compare", "compare.by=memory_format", f"compare.dirs=[{tmp_path / 'runs'}]",
                                  "compare.baseline_value=contiguous"), tmp_path / "job")
    assert record["status"] == Status.OK, record["error"]
    assert (record["compare_baseline"], record["compare_candidate"], record["n_pairs"]) == ("contiguous", "channels_last", 1)
    page = Path(record["compare_dashboard"]).read_text()
    assert 'data-view="compare"' in page and page.count("<script>") == 2   # plotly inlined once, the page's script


# -------------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def compare_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The compare job's dashboard, opened in Debian's Chromium: three pairs of three verdicts."""
    if not CHROMIUM.exists():  # as the report's browser tests: skipped here, never in CI
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(f"{CHROMIUM} not installed")
    from hydra import compose, initialize_config_dir
    from playwright.sync_api import sync_playwright

    from helpers import CONF_DIR
    from run import run_task

    root = tmp_path_factory.mktemp("cmp")
    for side, speeds in (("a", (1.0, 1.0, 1.0)), ("b", (1.5, 0.6, 1.0))):
        for model, speed in zip(("googlenet", "inception_v3", "xception"), speeds):
            write_runs(root, f"{side}/{model}", speed, model=model, git_commit=side, seed=ord(side) + len(model),
                       noisy=model == "xception" and side == "b")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["task=compare", "compare.by=git_commit", f"compare.dirs=[{root}]",
                                           "logger=none"])
    record = run_task(cfg, root / "job")
    assert record["status"] == Status.OK, record["error"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(Path(record["compare_dashboard"]).as_uri(), wait_until="load")
        page.wait_for_selector('section[data-view="compare"] .plot .main-svg')
        yield page, record
        assert errors == []
        browser.close()


def test_the_compare_view_shows_each_ratio_coloured_by_verdict_and_hover_names_both_runs(compare_page) -> None:
    page, record = compare_page
    section = page.locator('section[data-view="compare"]')
    assert page.locator("section").first.get_attribute("data-view") == "compare"   # first on the page
    plot = section.locator(".js-plotly-plot")
    traces = plot.evaluate("el => el.data.map(t => [t.name, t.marker.color, t.x.length, t.error_x.array.length])")
    assert sorted(traces) == [["faster", "#2a9d55", 1, 1], ["noisy", "#e0a81e", 1, 1], ["slower", "#d62728", 1, 1]]
    order = plot.evaluate("el => el.layout.yaxis.categoryarray")
    assert order == ["model=inception_v3", "model=xception", "model=googlenet"]   # sorted by ratio, slowest first
    point = plot.locator(".scatterlayer .trace").filter(has=page.locator(".point")).first.locator(".point").first
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator(".hoverlayer .hovertext").first
    tip.wait_for()
    text = tip.text_content()
    table = pd.read_csv(record["compare_csv"])
    row = table[table["setting"].map(lambda s: s in text)].iloc[0]
    assert row["baseline_runs"].split()[0] in text and row["candidate_runs"].split()[0] in text
    assert "a:" in text and "b:" in text and "ratio" in text
    verdicts = section.locator("table td[class^=verdict-]").all_text_contents()
    assert sorted(verdicts) == ["faster", "noisy", "slower"]


def test_two_sweeps_pair_across_the_one_setting_that_tells_them_apart(compose_cfg, tmp_path) -> None:
    for model in ("googlenet", "xception"):
        write_runs(tmp_path / "nchw", model, 1.0, model=model, memory_format="contiguous")
        write_runs(tmp_path / "nhwc", model, 1.4, model=model, memory_format="channels_last", seed=3)
    result = compare(opts(compose_cfg, f"compare.baseline={tmp_path / 'nchw'}", f"compare.candidate={tmp_path / 'nhwc'}"))
    assert "memory_format" not in result.keys and "model" in result.keys and len(result.pairs) == 2
    assert result.suite[0]["pairs"] == 2 and 1.3 < result.suite[0]["geomean_ratio"] < 1.5
