"""The GPU suite's parts for what landed after issue 13: the serving scenarios, loader mode with GPU decode,
profile attribution, the input-pipeline benchmark and the compare task (see tools/gpu_suite.py)."""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from contracts.status import Status
from tools import pipeline_bench
from tools.gpu_core import Suite
from tools.gpu_report import Row

SCENARIO_EST_S = {"single_stream": 20, "server": 60, "offline": 90}  # GPU seconds, for the budget


def part_serving(s: Suite) -> None:
    """single_stream's p99, the server's max QPS at its SLO, offline's best batch (which the zoo table then uses)."""
    for scenario, overrides in s.sizes.serving.items():
        row = s.bench("serving", scenario, s.bench_overrides(*overrides), SCENARIO_EST_S[scenario], kind="serving")
        if scenario == "offline" and row is not None and row.status == Status.OK:
            s.best_batch = row.fields.get("batch_size_best")


def write_jpegs(root: Path, per_class: int, side: int, seed: int = 0) -> Path:
    """``root/{train,val}/{a,b}/*.jpg``: random images, for a loader whose decode is what is measured."""
    if (root / "val" / "b" / f"{per_class - 1}.jpg").is_file():
        return root
    generator = torch.Generator().manual_seed(seed)
    for split in ("train", "val"):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                image = torch.randint(0, 256, (3, side, side), dtype=torch.uint8, generator=generator)
                torchvision.io.write_jpeg(image, str(folder / f"{i}.jpg"), quality=90)
    return root


def part_loader(s: Suite) -> None:
    """``bench.input=loader``: a training step fed by the configured loader; on a GPU the JPEGs decode on it."""
    decode = "gpu" if s.device == "cuda" else "cpu"
    label = f"train_decode_{decode}"
    if not s.fits("loader", label, 60):
        return

    def data_overrides() -> list[str]:
        per_class, side = s.sizes.jpegs
        root = write_jpegs(s.out / "data" / "jpegs", per_class, side)
        return [f"data.root={root}", f"data.decode={decode}"]

    overrides = s.guarded("loader", label, data_overrides)
    if overrides is None:
        return
    note = "" if decode == "gpu" else "data.decode=gpu needs CUDA: the dry run decodes on the CPU"
    s.bench("loader", label, s.bench_overrides(*s.sizes.loader, *overrides), 60, kind="loader", note=note)


def part_profile(s: Suite) -> None:
    """``bench.profile.enabled=true``: time and FLOPs per stage of Inception-v3, and what the profiler itself costs."""
    s.bench("profile", "modules", s.bench_overrides(*s.sizes.profile), 30, kind="profile")


def part_pipeline(s: Suite) -> None:
    """``python -m tools.pipeline_bench``'s rows on this node's cores: decode alone, ours (default and plain), timm's
    and torchvision's training transforms, per core and at N workers (the CPU side that feeds the GPU)."""
    count, size, batch, workers, rounds, batches = s.sizes.pipeline
    if not s.fits("pipeline", "transforms", 60):
        return

    def run() -> list[dict]:
        folder = s.out / "data" / f"pipeline-jpegs-{count}"
        if not any(folder.glob("*.jpg")):
            pipeline_bench.make_jpeg_folder(folder, count)
        return pipeline_bench.run(folder, size, batch, workers, rounds, batches)

    table = s.guarded("pipeline", "transforms", run) or []
    for row in table:  # the first row is decode alone with PIL: the limit every other row is a share of
        share = f"{100 * row['workers=0'] / table[0]['workers=0']:.0f}%"
        fields = {"workers": workers, "size": size, "batch_size": batch, "vs_decode": share, **row}
        s.add(Row("pipeline", str(row["pipeline"]), "pipeline", Status.OK, fields))


def part_compare(s: Suite) -> None:
    """``task=compare`` on this GPU: the model in NCHW against NHWC, ``bench.repeats`` runs a side, the ratio
    with its interval and verdict (the compare task's own figures, from its record)."""
    precision = "bf16" if s.device == "cuda" else "fp32"
    dirs = {}
    for label, channels_last in (("nchw", False), ("nhwc", True)):
        job = s.bench_overrides(f"model={s.sizes.model}", *s.sizes.size, f"bench.precision={precision}",
                                f"bench.channels_last={str(channels_last).lower()}", f"bench.batch_size={s.sizes.batch}",
                                f"bench.steps={s.sizes.steps}", f"bench.burn_in={s.sizes.burn_in}",
                                f"bench.repeats={s.sizes.compare_repeats}")
        row = s.bench("compare", label, job, 30, fresh=True)
        if row is None or row.status != Status.OK:
            return
        dirs[label] = s.out / "jobs" / f"compare-{label}"
    s.bench("compare", "nhwc_vs_nchw", ["logger=none", "task=compare", f"compare.baseline={dirs['nchw']}",
                                        f"compare.candidate={dirs['nhwc']}"], 10, fresh=True, kind="compare")
