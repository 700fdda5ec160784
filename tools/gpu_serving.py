"""The GPU suite's parts for what landed after issue 13: the serving scenarios, loader mode with GPU decode and
profile attribution, one harness job each (see tools/gpu_suite.py)."""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from contracts.status import Status
from tools.gpu_core import Suite

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

