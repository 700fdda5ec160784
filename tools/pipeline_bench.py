"""The training input pipeline against decode-only, timm's and torchvision's, per CPU core and with workers.

Every pipeline reads the same JPEG files through a ``DataLoader`` (batches of ``--batch-size``, the model
idle) and ends where a model would take over; the rows run in alternating rounds in one process, so load
changing on a shared machine hits them alike, and each figure is the median of the rounds (the spread is
printed beside it):

- ``decode PIL``: ``Image.open().convert("RGB")`` and nothing else — the limit of a PIL pipeline;
  ``decode simplejpeg`` the same with simplejpeg, when installed;
- ``ours default``: ``data=imagefolder``'s training path with its defaults (GoogLeNet's crops, random resize
  method, flips in the workers; photometric distortion and normalisation on the batch, here on the CPU in
  the main process), and the same with ``data.compile_augment=true`` (the hue step compiled); ``ours plain``: crop + flip only (``photometric=false random_interpolation=false``);
  collated as ``data=imagefolder`` collates (``lightning_modules.data.stack_images``);
- ``timm``: ``timm.data.create_transform(size, is_training=True)`` (RandomResizedCrop, flip, colour jitter 0.4,
  ToTensor, Normalize) on PIL images;
- ``torchvision ref``: the torchvision classification references' training preset, as they document it
  (RandomResizedCrop with bilinear antialiasing, horizontal flip p=0.5, PIL → uint8 tensor → float,
  Normalize), written here from that recipe.

"per core" runs with ``num_workers=0`` and one torch thread: the whole pipeline's cost on one core. Without
``--folder`` a small ImageNet-sized folder is made once (272 JPEGs, 400-500 px long side, quality 90).

    python -m tools.pipeline_bench [--folder DIR] [--size 299] [--batch-size 32] [--workers 2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision.transforms import InterpolationMode, v2

from lightning_modules.batch_augment import BatchAugment
from lightning_modules.data import stack_images
from lightning_modules.decode import resolve_decoder
from lightning_modules.transforms import TrainCrop

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as timm and the torchvision references
CACHE = Path.home() / ".cache" / "inception-bench"
JPEG_SUFFIXES = {".jpg", ".jpeg"}


def make_jpeg_folder(root: Path, count: int = 272, seed: int = 0) -> Path:
    """``count`` JPEGs of 400-500 px long side (aspect 3:4 to 4:3, quality 90) with natural-image-like content:
    smooth colour fields, a few hard-edged shapes and sensor-like noise (so they compress like photographs)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        long_side = int(rng.integers(400, 501))
        short_side = int(long_side * rng.uniform(0.75, 1.0))
        w, h = (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)
        coarse = rng.integers(0, 256, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
        for _ in range(int(rng.integers(3, 8))):  # shapes: edges and textures a photograph has
            box = sorted(rng.integers(0, w, 2)), sorted(rng.integers(0, h, 2))
            Image.Image.paste(img, tuple(int(c) for c in rng.integers(0, 256, 3)),
                              (int(box[0][0]), int(box[1][0]), int(box[0][1]) + 1, int(box[1][1]) + 1))
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
        pixels = np.asarray(img).astype(np.int16) + rng.normal(0, 6, (h, w, 3)).astype(np.int16)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / f"{i:04d}.jpg", quality=90)
    return root


def jpeg_files(folder: Path) -> list[str]:
    files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in JPEG_SUFFIXES)
    if not files:
        raise SystemExit(f"no JPEG files (*.jpg, *.jpeg) under {folder}")
    return files


class Files(Dataset):
    """The files through one per-sample function (what a loader worker runs)."""

    def __init__(self, files: list[str], fn: Callable[[str], torch.Tensor]) -> None:
        self.files, self.fn = files, fn

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.fn(self.files[index])


def pil_rgb(path: str) -> Image.Image:
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def decode_pil(path: str) -> torch.Tensor:
    return torch.tensor(pil_rgb(path).size)  # decoded; only its size crosses to the main process


def decode_simplejpeg(path: str) -> torch.Tensor:
    import simplejpeg

    with open(path, "rb") as f:
        return torch.tensor(simplejpeg.decode_jpeg(f.read()).shape)


class OnPIL:
    """A transform of a PIL image (timm's, torchvision's preset) after the PIL decode."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, path: str) -> torch.Tensor:
        return self.transform(pil_rgb(path))


def torchvision_reference_preset(size: int) -> v2.Compose:
    """The torchvision classification references' training preset with its defaults (RandomResizedCrop, bilinear,
    antialias; hflip 0.5; PIL -> tensor -> float; ImageNet normalisation), from its documented recipe."""
    return v2.Compose([v2.RandomResizedCrop(size, interpolation=InterpolationMode.BILINEAR, antialias=True),
                       v2.RandomHorizontalFlip(0.5), v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(MEAN, STD)])


Pipeline = tuple[str, Callable[[str], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]
OURS = "ours"  # the rows whose batches are collated as data=imagefolder's (lightning_modules.data.stack_images)


def pipelines(size: int) -> list[Pipeline]:
    """(row name, per-sample function in the workers, batch function in the main process)."""
    import timm.data  # a measuring instrument (test/dev extras), not a runtime dependency

    decoder = resolve_decoder("auto")
    default, plain = BatchAugment(MEAN, STD, photometric=True), BatchAugment(MEAN, STD, photometric=False)
    compiled = BatchAugment(MEAN, STD, photometric=True, compile=True)
    rows: list[Pipeline] = [("decode PIL", decode_pil, lambda b: b)]
    if decoder == "simplejpeg":
        rows.append(("decode simplejpeg", decode_simplejpeg, lambda b: b))
    rows += [
        (f"{OURS} default ({decoder})", TrainCrop(size, decoder=decoder), lambda b: default(b, train=True)),
        (f"{OURS} default ({decoder}, compile_augment)", TrainCrop(size, decoder=decoder),
         lambda b: compiled(b, train=True)),
        (f"{OURS} plain ({decoder})", TrainCrop(size, random_interpolation=False, decoder=decoder),
         lambda b: plain(b, train=True)),
        ("timm create_transform", OnPIL(timm.data.create_transform(size, is_training=True)), lambda b: b),
        ("torchvision ref preset", OnPIL(torchvision_reference_preset(size)), lambda b: b),
    ]
    return rows


def measure(files: list[str], row: Pipeline, workers: int, batch_size: int, batches: int) -> float:
    """img/s of ``batches`` batches after a first (untimed) one, which waits for the workers to start."""
    name, per_sample, per_batch = row
    sampler = RandomSampler(Files(files, per_sample), num_samples=(batches + 1) * batch_size,
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(Files(files, per_sample), batch_size=batch_size, sampler=sampler, num_workers=workers,
                        drop_last=True, prefetch_factor=2 if workers else None,
                        collate_fn=stack_images if name.startswith(OURS) else None)
    it = iter(loader)
    per_batch(next(it))
    start = time.perf_counter()
    images = 0
    for batch in it:
        images += len(per_batch(batch))
    return images / (time.perf_counter() - start)


def machine_line() -> str:
    load = os.getloadavg()
    peak = ""
    cache = CACHE / "cpu_peak.json"
    if cache.is_file():  # bench.benchmark.flops' cache: "<cpu>|threads=<n>|torch=<v>|<dtype>" -> TFLOP/s
        peaks = [(k.split("|"), v) for k, v in json.loads(cache.read_text()).items()]
        peak = "".join(f", {p[0]} fp32 GEMM peak {1000 * v:.0f} GFLOP/s on {p[1].split('=')[1]} thread(s) (cached)"
                       for p, v in peaks if len(p) == 4 and p[3] == "fp32")
    return f"Machine: {os.cpu_count()} CPUs{peak}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)"


def run(folder: Path, size: int, batch_size: int, workers: int, rounds: int, batches: int) -> list[dict[str, object]]:
    files = jpeg_files(folder)
    torch.set_num_threads(1)  # per core: the main process on one thread too (workers have one each)
    rows = pipelines(size)
    settings = [0, 1, workers] if workers > 1 else [0, 1]
    results: dict[tuple[str, int], list[float]] = {(r[0], w): [] for r in rows for w in settings}
    print(f"{len(files)} JPEGs under {folder}, {size} px, batch {batch_size}, {batches} timed batches per "
          f"figure, {rounds} alternating rounds, workers {settings}")
    print(machine_line())
    for i in range(rounds):
        order = rows if i % 2 == 0 else rows[::-1]  # who goes first alternates
        for row in order:
            for w in settings:
                results[row[0], w].append(measure(files, row, w, batch_size, batches))
    table = []
    for name, *_ in rows:
        entry: dict[str, object] = {"pipeline": name}
        for w in settings:
            values = results[name, w]
            entry[f"workers={w}"] = statistics.median(values)
            entry[f"spread workers={w}"] = (min(values), max(values))
        table.append(entry)
    print_table(table, settings)
    print(machine_line())
    return table


def print_table(table: list[dict[str, object]], settings: list[int]) -> None:
    decode = table[0]["workers=0"]
    timm_row = next(r for r in table if r["pipeline"].startswith("timm"))["workers=0"]
    top = max(settings)
    head = (f"| pipeline | img/s per core (workers=0) | {' | '.join(f'workers={w}' for w in settings[1:])} | "
            f"{top} vs 1 worker | per core vs decode PIL | per core vs timm |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in table:
        cells = [f"{r[f'workers={w}']:.1f} ({r[f'spread workers={w}'][0]:.0f}-{r[f'spread workers={w}'][1]:.0f})"
                 for w in settings]
        print(f"| {r['pipeline']} | {' | '.join(cells)} | {r[f'workers={top}'] / r['workers=1']:.2f}x | "
              f"{100 * r['workers=0'] / decode:.0f}% | {r['workers=0'] / timm_row:.2f}x |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="a folder of JPEGs (searched recursively); default: make one")
    parser.add_argument("--make-count", type=int, default=272, help="JPEGs in the folder made without --folder")
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="the N of the N-worker column (1 is always run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=6, help="timed batches per figure")
    args = parser.parse_args(argv)
    folder = args.folder
    if folder is None:
        folder = CACHE / f"pipeline-jpegs-{args.make_count}"
        if not any(folder.glob("*.jpg")):
            print(f"making {args.make_count} ImageNet-sized JPEGs in {folder}")
            make_jpeg_folder(folder, args.make_count)
    run(folder, args.size, args.batch_size, args.workers, args.rounds, args.batches)


if __name__ == "__main__":
    main()
