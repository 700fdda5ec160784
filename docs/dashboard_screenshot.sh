#!/usr/bin/env bash
# The commands that made docs/dashboard.png and docs/dashboard_full.png: real CPU runs at tiny sizes, a
# report over them, and a screenshot in the system Chromium. Run from the repo root (about 25 minutes on
# the project's busy 2-core machine). The serving and attrib runs used those branches' commits before they
# were merged (SERVING_SRC=, ATTRIB_SRC= a checkout of each); once merged, the repo root runs them all.
# Fake records only where this machine cannot make the kind: a GPU, and a `killed` / `dead` job (issue 9).
set -euxo pipefail
REPO=$PWD; D=${DEMO_DIR:-/tmp/demo}; R=$D/results
SERVING_SRC=${SERVING_SRC:-$REPO}; ATTRIB_SRC=${ATTRIB_SRC:-$REPO}
TINY="bench.input_size=75 bench.steps=3 bench.burn_in=1 bench.log_every=0 logger=none"
rm -rf "$D"; mkdir -p "$D"

# 1. a sweep: three models x three batch sizes
python run.py -m model=googlenet,bn_inception,inception_v3 bench.batch_size=1,2,4 $TINY paths.results_dir=$R report.after_sweep=false
# 2. a failed job (bad batch size), and a job killed mid-run with SIGKILL (on this branch its record stays `running`)
python run.py model=xception bench.batch_size=0 $TINY paths.results_dir=$R || true
python run.py model=inception_v4 bench.batch_size=1 bench.input_size=75 bench.steps=100000 bench.log_every=0 logger=none paths.results_dir=$R &
sleep 40; kill -9 $!; wait || true
# 3. training: digits (10 classes), and a 3-class photo folder made here
python run.py task=train model=googlenet data=digits trainer=cpu trainer.max_epochs=4 +trainer.limit_train_batches=12 +trainer.limit_val_batches=6 trainer.enable_progress_bar=false logger=none paths.results_dir=$R
python - "$D/photos" <<'PY'
import random, sys
from pathlib import Path
from PIL import Image
rng = random.Random(0)
for split, n in (("train", 24), ("val", 8)):
    for name, rgb in (("cats", (200, 80, 60)), ("dogs", (60, 160, 80)), ("birds", (70, 90, 200))):
        folder = Path(sys.argv[1]) / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (48, 48), tuple(max(0, min(255, v + rng.randint(-90, 90))) for v in rgb)).save(folder / f"{i}.jpg")
PY
python run.py task=train model=googlenet data=imagefolder data.root=$D/photos data.num_classes=3 data.num_workers=0 data.batch_size=8 data.input_size=min trainer=cpu trainer.max_epochs=1 +trainer.limit_train_batches=2 trainer.enable_progress_bar=false logger=none paths.results_dir=$R
# 4. serving scenarios (issue 10), input pipeline, per-module profile and the seed block pairs (issue 11)
(cd "$SERVING_SRC" && PYTHONPATH=$PWD python run.py -m model=googlenet bench=single_stream,server,offline bench.input_size=75 bench.single_stream.min_queries=200 bench.single_stream.min_duration_s=2 bench.server.min_queries=200 bench.server.min_duration_s=2 bench.server.slo_ms=200 bench.offline.max_batch_size=16 logger=none paths.results_dir=$D/serving report.after_sweep=false)
(cd "$ATTRIB_SRC" && export PYTHONPATH=$PWD \
  && python run.py -m experiment=seed_module_costs bench.mode=forward bench.batch_size=8 bench.steps=10 bench.burn_in=2 bench.threads=1 logger=none paths.results_dir=$D/attrib report.after_sweep=false \
  && python run.py model=googlenet bench.profile.enabled=true bench.batch_size=2 $TINY paths.results_dir=$D/attrib \
  && python run.py model=googlenet bench.input=loader data=digits data.num_workers=0 bench.batch_size=16 $TINY paths.results_dir=$D/attrib)
# 5. fake records, named as such: GPU runs, a `killed` job (written by its parent) and a `dead` one
python - "$D" <<'PY'
import json, os, socket, sys, time
from pathlib import Path
sys.path.insert(0, "tests")
from helpers import fake_record
from bench.job.record import write_record
demo = Path(sys.argv[1])
gpu = {"device_name": "NVIDIA H100 (fake record)", "device_count": 1, "device_type": "cuda", "input_size": 75,
       "memory_format": "channels_last", "peak_tflops": 989.4, "peak_precision": "fp32", "params": None}
for model, gmacs, speed in (("googlenet", 0.17, 900), ("bn_inception", 0.23, 700), ("inception_v3", 0.57, 450)):
    for batch in (1, 2, 4):
        ips = speed * batch ** 0.8
        write_record(fake_record(**gpu, model=model, batch_size=batch, images_per_s=ips, mean_s=batch / ips,
                                 gmacs_per_image=gmacs, achieved_tflops=2 * gmacs * ips / 1e3,
                                 utilization=2 * gmacs * ips / 1e3 / 989.4, sweep_id="fake-gpu-sweep", job_num=batch,
                                 run_id=f"fake-{model[:6]}-{batch}"), demo / f"fake/gpu/{model}_{batch}")
cpu = json.loads(next((demo / "results/multirun").glob("**/record.json")).read_text())
here = {k: cpu[k] for k in ("device_name", "device_count", "device_type")}
now = time.time()
write_record(fake_record(**here, model="inception_v4", status="killed", killed_signal="SIGKILL", exit_code=-9,
                         error="fake record: killed by SIGKILL (written by its parent)", run_id="fake-killed",
                         mean_s=None, images_per_s=None), demo / "fake/killed")
write_record(fake_record(**here, model="xception", status="running", host=socket.gethostname(), pid=os.getpid() + 10_000_000,
                         started_at=now - 600, heartbeat_at=now - 590, heartbeat_interval_s=30.0, run_id="fake-dead",
                         mean_s=None, images_per_s=None), demo / "fake/dead")
PY
# 6. the report (target 25 % on digits: four tiny epochs reach 31 %), then the screenshots
python run.py task=report paths.results_dir=$R "report.dirs=[$R,$D/serving,$D/attrib,$D/fake]" report.out_dir=$D/report report.target_top1.digits=25 logger=none
python - "$D/report/dashboard.html" <<'PY'
import sys
from playwright.sync_api import sync_playwright
args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.goto("file://" + sys.argv[1], wait_until="load")
    page.wait_for_selector(".plot .main-svg")
    page.evaluate("dashboard.drawAll()")
    page.wait_for_timeout(1500)
    page.screenshot(path="docs/dashboard.png")
    page.screenshot(path="docs/dashboard_full.png", full_page=True)
    browser.close()
PY
