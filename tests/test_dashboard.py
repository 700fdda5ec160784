"""The dashboard: self-contained (no script, no network), names escaped, and it renders in headless Chromium."""
from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest

from helpers import write_fake
from bench.report.task import make_report

HOSTILE = "<script>alert('x')</script>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dashboard over every kind of record: a batch sweep on two devices, a failure, training, a hostile name."""
    root = tmp_path_factory.mktemp("results")
    for i, batch in enumerate((1, 2, 4, 8)):
        write_fake(root, f"cpu{i}", batch_size=batch, images_per_s=50.0 * batch**0.5)
        write_fake(root, f"gpu{i}", batch_size=batch, images_per_s=900.0 * batch, device_name="NVIDIA H100", device_count=2)
    write_fake(root, "v3", model="inception_v3", batch_size=32, input_size=299, mean_s=0.12)
    write_fake(root, "fail", status="oom", error="out of memory at batch size 512", mean_s=None, step_times_s=None)
    write_fake(root, "train", task="train", top1=68.0, top5=88.0,
               curves={"epoch": [0, 1, 2], "val_top1": [10.0, 40.0, 68.0], "train_loss": [6.0, None, 1.5]})
    write_fake(root, "hostile", model=HOSTILE, overrides=[f"model.name={HOSTILE}"], error=HOSTILE)
    return Path(make_report([root], root / "report")["report_dashboard"])


def test_dashboard_is_self_contained_and_escaped(dashboard: Path) -> None:
    page = dashboard.read_text()
    assert "<script" not in page.lower()                   # no script at all, the hostile name included
    assert "&lt;script&gt;" in page                        # ... which is shown, escaped
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)  # nothing fetched: no URL but data:
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 5                                  # throughput, latency, accuracy, curves, TF book
    for svg in svgs:
        ET.fromstring(svg)                                 # each plot is well-formed SVG


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_dashboard_renders_in_headless_chromium(dashboard: Path, tmp_path: Path) -> None:
    def chromium(*args: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path / f"profile{len(list(tmp_path.iterdir()))}"
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, dashboard.as_uri()],
                              capture_output=True, text=True, timeout=120, check=True)

    dom = chromium("--dump-dom")
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console                          # no console message, let alone an error
    assert dom.stdout.count("<svg") == 5 and "<path" in dom.stdout
    assert "Runs" in dom.stdout and "&lt;script&gt;" in dom.stdout

    shot = tmp_path / "shot.png"
    chromium("--window-size=1280,2400", f"--screenshot={shot}")
    pixels = matplotlib.image.imread(shot)[..., :3]
    plot_area = pixels[150:1500]                           # the plots sit in the first screens
    assert (plot_area < 0.5).any(axis=-1).mean() > 0.01   # dark lines and text drawn, not a blank page
    assert ((plot_area[..., 2] > 0.5) & (plot_area[..., 0] < 0.3)).any()  # and the blue data series
