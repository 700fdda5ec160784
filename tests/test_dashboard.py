"""The dashboard: one offline file, names escaped, and it works in a real Chromium (Playwright, system browser).

The browser tests skip only where Chromium or Playwright is missing, and never in CI (CI=true): there they fail.
"""
from __future__ import annotations

import json
import os
import random
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.status import Status
from bench.report.task import make_report
from helpers import TEST_NET, TINY_BENCH, records, run_cli, write_fake

HOSTILE = """<img src=x onerror="window.pwned=1">"""
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
IN_CI = os.environ.get("CI") == "true"
VIEWS = ("status", "throughput", "serving", "devices", "utilization", "training", "other_accuracy")


def _browser_missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}: CI must run the browser tests (apt-get install chromium; pip install -e .[test])")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _browser_missing(f"{CHROMIUM} not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("playwright not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A real tiny sweep (three batch sizes and a bad one), plus fake records of kinds a sweep here cannot make."""
    root = tmp_path_factory.mktemp("results")
    proc = run_cli("-m", *TEST_NET, *TINY_BENCH, "bench.batch_size=1,2,4,0", f"paths.results_dir={root}",
                   "report.after_sweep=false")
    assert proc.returncode == 0, proc.stderr
    real = records(root)
    assert sorted(r["status"] for r in real) == [Status.ERROR] + [Status.OK] * 3
    cpu = next(r for r in real if r["status"] == Status.OK)
    device = {k: cpu[k] for k in ("device_name", "device_count", "device_type")}
    write_fake(root, "fake/gpu", model="tiny_test", batch_size=4, images_per_s=90_000.0, device_name="NVIDIA H100",
               achieved_tflops=5.0, peak_tflops=989.0, utilization=0.005, precision=cpu["precision"])
    write_fake(root, "fake/server", **device, model="tiny_test", scenario="server", batch_size=1, latency_p50_s=0.002,
               latency_p99_s=0.006, qps_achieved=300.0, slo_s=0.01,
               qps_probes=[{"qps_offered": q, "qps_achieved": q, "latency_p50_s": q / 1e5, "latency_p99_s": q / 4e4,
                            "slo_met": True} for q in (50, 100, 200, 300)])
    write_fake(root, "fake/train", **device, model="tiny_test", task="train", data="digits", num_classes=10,
               eval_mode="center", top1=91.0, top5=99.0, train_time_s=12.0,
               curves={"epoch": [0, 1, 2], "val_top1": [40.0, 85.0, 91.0], "train_loss": [2.0, 0.8, 0.4]})
    write_fake(root, "fake/dead", **device, status=Status.RUNNING, host=socket.gethostname(),
               pid=os.getpid() + 10_000_000, heartbeat_at=time.time(), heartbeat_interval_s=30.0)
    write_fake(root, "fake/hostile", **device, model=HOSTILE, overrides=[f"model.name={HOSTILE}"], error=HOSTILE)
    return root, real


@pytest.fixture(scope="module")
def dashboard(sweep: tuple[Path, list[dict[str, Any]]]) -> Path:
    root, _ = sweep
    return Path(make_report([root], root / "report", target_top1={"digits": 90.0})["report_dashboard"])


@pytest.fixture
def page(browser: Any, dashboard: Path) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith("file://") else None)
    page.goto(dashboard.as_uri(), wait_until="load")
    page.wait_for_selector(".plot .main-svg")
    yield page
    assert problems == []                      # no console error or warning, nothing fetched from anywhere
    page.close()


def _visible_runs(page: Any) -> int:
    return page.locator("#runs tbody tr:not(.detail):visible").count()


# --------------------------------------------------------------------------------------------- static
def test_page_is_one_offline_file_with_plotly_inlined_once(dashboard: Path) -> None:
    page = dashboard.read_text()
    assert page.count("* plotly.js v") == 1                    # the library, once
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)  # the browser tests watch what scripts fetch
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", markup)  # no URL but data: and #
    assert HOSTILE not in page and "&lt;img src=x" in page     # escaped in tables, \u003c-escaped in the JSON
    data = json.loads(re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S)[1])
    assert HOSTILE in data["hover"][-1] or any(HOSTILE in h for h in data["hover"])


# -------------------------------------------------------------------------------------------- browser
def test_every_view_renders_its_plots(page: Any) -> None:
    for view in VIEWS:
        section = page.locator(f'section[data-view="{view}"]')
        plots = section.locator(".plot")
        assert plots.count() >= 1, view
        for i in range(plots.count()):
            plots.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(f"""document.querySelectorAll('section[data-view="{view}"] .plot .main-svg').length
                                   >= {plots.count()}""")
        assert section.locator(".js-plotly-plot").count() == plots.count(), view
    throughput = page.locator('section[data-view="throughput"] .js-plotly-plot').first
    assert throughput.locator(".scatterlayer .point").count() >= 3   # the sweep's three batch sizes at least


def test_hover_names_the_record_behind_a_point(page: Any, sweep: tuple[Path, list[dict[str, Any]]]) -> None:
    _, real = sweep
    cpu = next(r for r in real if r["status"] == Status.OK)["device_name"]
    page.locator('section[data-view="throughput"]').scroll_into_view_if_needed()  # plots are drawn when reached
    plot = page.locator('section[data-view="throughput"] .plot', has_text=f"on {cpu}")  # real records
    plot.locator(".scatterlayer .point").first.wait_for()
    real_ids = {f"run {r['run_id']}" for r in real if r["status"] == Status.OK}
    tips = []
    for point in plot.locator(".scatterlayer .point").all():  # the plot also holds fake records' points
        box = point.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tip = page.locator(".hoverlayer .hovertext").first
        tip.wait_for()
        tips.append(tip.text_content())
        if any(run in tips[-1] for run in real_ids):
            break
    text = tips[-1]
    assert any(run in text for run in real_ids), tips
    assert "tiny_test" in text and "batch" in text


def test_clicking_a_legend_entry_hides_its_series(page: Any) -> None:
    plot = page.locator('section[data-view="serving"] .plot').first
    plot.scroll_into_view_if_needed()
    plot.locator(".legend .traces").first.wait_for()
    shown = plot.locator(".scatterlayer .trace").evaluate_all("ts => ts.filter(t => t.style.opacity !== '0').length")
    plot.locator(".legend .traces").first.click()
    page.wait_for_function("el => el.data[0].visible === 'legendonly'", arg=plot.element_handle())
    hidden = plot.locator(".scatterlayer .trace").evaluate_all("ts => ts.filter(t => t.style.opacity !== '0').length")
    assert hidden == shown - 1


def test_filter_bar_changes_the_runs_table_and_the_plots(page: Any) -> None:
    total = _visible_runs(page)
    assert total == 9                                         # 4 real jobs + 5 fake records
    options = page.locator('select[data-filter="status"] option').all_text_contents()
    page.select_option('select[data-filter="status"]', str(options.index(Status.ERROR.value) - 1))
    assert _visible_runs(page) == 1
    assert "bench.batch_size must be a positive integer" in page.locator("#runs tbody tr:visible").text_content()
    assert page.locator("#shown").text_content() == f"1 of {total} records"
    page.click("#reset")
    page.select_option('select[data-filter="device"]', label="NVIDIA H100")
    assert _visible_runs(page) == 1
    status_plot = page.locator('section[data-view="status"] .plot')
    assert status_plot.evaluate("el => el.data.reduce((n, t) => n + t.x.length, 0)") == 1  # recounted
    page.click("#reset")
    assert _visible_runs(page) == total


def test_runs_table_sorts_searches_and_expands_a_record(page: Any) -> None:
    header = page.locator("#runs th", has_text="batch_size")
    header.click()
    column = page.locator("#runs th").all_text_contents().index(header.text_content())
    cells = page.locator(f"#runs tbody tr:not(.detail) td:nth-child({column + 1})").all_text_contents()
    numbers = [float(c) for c in cells if c]
    assert numbers == sorted(numbers) and numbers
    page.fill("#runs-search", "server")
    assert _visible_runs(page) == 1
    page.locator("#runs tbody tr:visible").first.click()
    detail = page.locator("#runs tr.detail")
    assert "latency_p99_s" in detail.text_content() and "qps_probes" in detail.text_content()


def test_names_holding_html_are_shown_as_text(page: Any) -> None:
    assert page.evaluate("window.pwned") is None
    assert page.locator("#runs td", has_text=HOSTILE).count() >= 1     # shown literally, as text
    assert page.locator("#runs img, .legend img, .plot img").count() == 0
    page.locator('section[data-view="throughput"]').scroll_into_view_if_needed()
    page.locator('section[data-view="throughput"] .legend').first.wait_for()
    assert page.locator('section[data-view="throughput"] .legend', has_text=HOSTILE).count() == 1  # legend: text too


# ---------------------------------------------------------------------------------------------- scale
def many_records(root: Path, n: int) -> None:
    """``n`` records like a busy results dir: sweeps on three devices, serving, training curves, failures."""
    rng = random.Random(0)
    models = ("googlenet", "bn_inception", "inception_v2", "inception_v3", "inception_v4", "xception")
    devices = ("NVIDIA H100", "NVIDIA A100", "AMD EPYC 9654")
    for i in range(n):
        fields: dict[str, Any] = dict(
            model=models[i % len(models)], device_name=devices[(i // 6) % 3], sweep_id=f"sweep{i // 60}",
            job_num=i % 60, batch_size=2 ** (i % 9), precision=("fp32", "bf16")[i % 2],
            images_per_s=rng.uniform(10, 5000), achieved_tflops=rng.uniform(1, 100), peak_tflops=989.0,
            utilization=rng.uniform(0, 0.5), step_times_s=[rng.uniform(0.01, 0.02) for _ in range(100)])
        kind = i % 10
        if kind == 1:
            fields.update(scenario="server", latency_p50_s=rng.uniform(1e-3, 1e-2), latency_p99_s=rng.uniform(1e-2, 5e-2),
                          qps_achieved=rng.uniform(10, 1000), slo_s=0.05)
        elif kind == 2:
            fields.update(task="train", data="imagenet", num_classes=1000, eval_mode="center", top1=rng.uniform(60, 80),
                          top5=rng.uniform(85, 95), train_time_s=3600.0,
                          curves={"epoch": list(range(30)), "val_top1": [k * 2.6 for k in range(30)],
                                  "train_loss": [7 - k * 0.2 for k in range(30)]})
        elif kind == 3:
            fields.update(status=(Status.OOM, Status.ERROR, Status.KILLED, Status.RUNNING)[i % 4], error="on purpose")
        write_fake(root, f"r{i:05d}", **fields)


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A dashboard over 2,000 generated records, and the seconds it took to build."""
    root = tmp_path_factory.mktemp("big")
    many_records(root / "results", 2000)
    start = time.perf_counter()
    out = make_report([root / "results"], root / "report", target_top1={"imagenet": 75.9})
    assert out["n_records"] == 2000
    return Path(out["report_dashboard"]), time.perf_counter() - start


def busy() -> float:
    """Runnable processes per core over the last minute, at least 1: a quiet machine's time limits are
    stretched by it where other jobs share this 2-core machine (the numbers are printed either way)."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def test_two_thousand_records_build_in_under_10_s_into_under_10_mb(big_report: tuple[Path, float]) -> None:
    path, built = big_report
    print(f"2000 records: built in {built:.2f} s (machine busy x{busy():.1f}), {path.stat().st_size / 1e6:.2f} MB")
    assert path.stat().st_size < 10e6
    assert built < 10 * busy()


def test_two_thousand_records_open_in_chromium_in_under_3_s(big_report: tuple[Path, float], browser: Any) -> None:
    opened = []
    for _ in range(3):  # the best of three opens: other processes on a 2-core machine can double one
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        start = time.perf_counter()
        page.goto(big_report[0].as_uri(), wait_until="load")
        page.wait_for_selector(".plot .main-svg")  # the first plots drawn
        opened.append(time.perf_counter() - start)
        page.close()
    print(f"2000 records: opened in {min(opened):.2f} s (of {[round(t, 2) for t in opened]}, busy x{busy():.1f})")
    assert min(opened) < 3 * busy()
