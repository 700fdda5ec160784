"""The training input pipeline against decode-only, timm's and torchvision's, per CPU core and with workers.

Every pipeline reads the same JPEG files through a ``DataLoader`` (batches of ``--batch-size``, the model
idle) and ends where a model would take over; the rows run in alternating rounds in one process, so load
changing on a shared machine hits them alike, and each figure is the median of the rounds (the spread is
printed beside it; each ratio is the median of the rounds' own ratios, with their range):

- ``decode PIL``: ``Image.open().convert("RGB")`` and nothing else — the limit of a PIL pipeline;
  ``decode simplejpeg`` the same with simplejpeg, when installed;
- ``ours default``: ``data=imagefolder``'s training path with its defaults on a CPU run (GoogLeNet's crops,
  random resize method, flips; then the batch step: photometric distortion and normalisation of the whole
  batch, in the workers, whose batches cross in shared slots: ``lightning_modules.collate.BatchCollate``), with
  each ``data.augment_kernel`` (numba when installed, torch, compile), and once with the batch step in the main
  process (``data.augment_on=device``, as a GPU run has it, here on the CPU); ``ours plain``: crop + flip only
  (``photometric=false random_interpolation=false``); with the region decoder (``data.decoder=auto`` where it was
  built), ``ours plain (simplejpeg, ...)`` is the same from whole-image decodes;
- ``timm``: ``timm.data.create_transform(size, is_training=True)`` (RandomResizedCrop, flip, colour jitter 0.4,
  ToTensor, Normalize) on PIL images;
- ``torchvision ref``: the torchvision classification references' training preset, as they document it
  (RandomResizedCrop with bilinear antialiasing, horizontal flip p=0.5, PIL → uint8 tensor → float,
  Normalize), written here from that recipe.

"per core" runs with ``num_workers=0`` and one torch thread: the whole pipeline's cost on one core. Without
``--folder`` a small ImageNet-sized folder is made once (272 JPEGs, 400-500 px long side, quality 90).

    python -m tools.pipeline_bench [--folder DIR] [--size 299] [--batch-size 32] [--workers 2] [--rounds 3]

``--steps`` prints instead what one core spends per image on each step (best of ``--rounds`` passes over up
to 128 files), and what a batch's crossing from one worker costs with PyTorch's fresh shared-memory segment
per batch and with this project's reused slots (``lightning_modules.shared_slots``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
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
from lightning_modules.collate import BatchCollate
from lightning_modules.decode import decode_pixels, resolve_decoder
from lightning_modules.shared_slots import SlotPool
from lightning_modules.transforms import TrainCrop

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as timm and the torchvision references
CACHE = Path.home() / ".cache" / "inception-bench"
JPEG_SUFFIXES = {".jpg", ".jpeg"}
WARMUP_PER_WORKER = 4  # untimed batches per worker: prefetch (2) + what the main process holds (2) first-touch slots


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
    """The files through one per-sample function (what a loader worker runs), each with a label 0."""

    def __init__(self, files: list[str], fn: Callable[[str], torch.Tensor]) -> None:
        self.files, self.fn = files, fn

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.fn(self.files[index]), 0


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


class Ours:
    """A row of ours: the training loader's collate (``BatchCollate``: the batch step in the workers, batches in
    shared slots, as a CPU run's loader) or, ``in_main``, uint8 batches and the batch step in the main process."""

    def __init__(self, size: int, batch_augment: BatchAugment, in_main: bool = False) -> None:
        self.size, self.batch_augment, self.in_main = size, batch_augment, in_main

    def collate(self, workers: int, batch_size: int) -> BatchCollate:
        return BatchCollate.for_loader(None if self.in_main else self.batch_augment, True, workers, 2,
                                       (batch_size, 3, self.size, self.size))

    def per_batch(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        images = batch[0]
        return self.batch_augment(images, train=True) if self.in_main else images


Pipeline = tuple[str, Callable[[str], torch.Tensor], Ours | None]


def pipelines(size: int) -> list[Pipeline]:
    """(row name, per-sample function in the workers, ours: how batches are made, or None: the default collate)."""
    import timm.data  # a measuring instrument (test/dev extras), not a runtime dependency

    decoder = resolve_decoder("auto")
    crop, plain_crop = TrainCrop(size, decoder=decoder), TrainCrop(size, random_interpolation=False, decoder=decoder)
    augment = {kernel: BatchAugment(MEAN, STD, photometric=True, kernel=kernel) for kernel in ("auto", "torch", "compile")}
    auto = augment["auto"].kernel_on(torch.device("cpu"))
    simplejpeg = importlib.util.find_spec("simplejpeg") is not None
    rows: list[Pipeline] = [("decode PIL", decode_pil, None)]
    if simplejpeg:
        rows.append(("decode simplejpeg", decode_simplejpeg, None))
    rows += [
        (f"ours default ({decoder}, {auto})", crop, Ours(size, augment["auto"])),
        (f"ours default ({decoder}, {auto}, batch step in the main process)", crop, Ours(size, augment["auto"], True)),
    ]
    if auto != "torch":
        rows.append((f"ours default ({decoder}, torch)", crop, Ours(size, augment["torch"])))
    rows += [
        (f"ours default ({decoder}, compile)", crop, Ours(size, augment["compile"])),
        (f"ours plain ({decoder}, {auto})", plain_crop, Ours(size, BatchAugment(MEAN, STD, photometric=False))),
    ]
    if decoder == "region" and simplejpeg:  # the same crops from whole-image decodes: what the region saves
        rows.append((f"ours plain (simplejpeg, {auto})", TrainCrop(size, random_interpolation=False, decoder="simplejpeg"),
                     Ours(size, BatchAugment(MEAN, STD, photometric=False))))
    rows += [
        ("timm create_transform", OnPIL(timm.data.create_transform(size, is_training=True)), None),
        ("torchvision ref preset", OnPIL(torchvision_reference_preset(size)), None),
    ]
    return rows


def measure(files: list[str], row: Pipeline, workers: int, batch_size: int, batches: int) -> float:
    """img/s of ``batches`` batches after untimed ones: the workers' start, and each worker's first few batches
    (in ours, they touch the reused shared slots' fresh pages once; a training run's thousands of batches don't)."""
    _name, per_sample, ours = row
    warmup = 1 + WARMUP_PER_WORKER * workers
    sampler = RandomSampler(Files(files, per_sample), num_samples=(warmup + batches) * batch_size,
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(Files(files, per_sample), batch_size=batch_size, sampler=sampler, num_workers=workers,
                        drop_last=True, prefetch_factor=2 if workers else None,
                        collate_fn=ours.collate(workers, batch_size) if ours else None)
    per_batch = ours.per_batch if ours else (lambda b: b[0])
    it = iter(loader)
    for _ in range(warmup):
        per_batch(next(it))
    start = time.perf_counter()
    images = 0
    for batch in it:
        images += len(per_batch(batch))
    return images / (time.perf_counter() - start)


class Ready(Dataset):
    """The same ready crop for every index: a loader whose workers only collate, so the crossing is what costs."""

    def __init__(self, image: torch.Tensor, n: int) -> None:
        self.image, self.n = image, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.image, 0


def crossing_ms(image: torch.Tensor, batch_size: int, slots: bool, batches: int = 24) -> float:
    """ms per image of ready crops through one worker, collated into a fresh segment or a reused slot."""
    pool = SlotPool.for_loader(1, 2, batch_size * image.numel() * image.element_size()) if slots else None
    loader = DataLoader(Ready(image, (batches + 5) * batch_size), batch_size=batch_size, num_workers=1,
                        prefetch_factor=2, collate_fn=BatchCollate(slots=pool) if slots else None)
    it = iter(loader)
    for _ in range(5):  # the worker's start; the slots' first touch
        next(it)
    start = time.perf_counter()
    for _ in it:
        pass
    return 1e3 * (time.perf_counter() - start) / (batches * batch_size)


def per_image_ms(fn: Callable[[], object], count: int, rounds: int) -> float:
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best / count


def steps(folder: Path, size: int, batch_size: int, rounds: int) -> list[tuple[str, float]]:
    """(step, ms per image on one core) for the steps of ours, the decoders, and the crossing from a worker."""
    files = jpeg_files(folder)[:128]
    torch.set_num_threads(1)
    decoder = resolve_decoder("auto")
    crops = {"plain": TrainCrop(size, random_interpolation=False, decoder=decoder), "default": TrainCrop(size, decoder=decoder)}
    n = len(files) - len(files) % batch_size or len(files)
    # each output dropped at once, as a loader's are (kept, 128 of them would be fresh pages each pass)
    rows = [("decode alone, PIL convert('RGB')", per_image_ms(lambda: [pil_rgb(f).size for f in files], len(files), rounds))]
    if importlib.util.find_spec("simplejpeg") is not None:
        rows.append(("decode alone, simplejpeg", per_image_ms(lambda: [decode_simplejpeg(f) for f in files], len(files), rounds)))
    if decoder == "region":  # the decode of the crops' regions alone, the crops drawn as the workers draw them
        draw = crops["plain"]._draw
        rows.append(("decode alone, region decoder, GoogLeNet's crops at this size",
                     per_image_ms(lambda: [decode_pixels(f, "region", size, draw).pixels.shape for f in files], len(files), rounds)))
    for name, crop in crops.items():
        rows.append((f"worker, {name}: read, draw, decode ({decoder}), crop + resize, flip",
                     per_image_ms(lambda crop=crop: [crop(f).shape for f in files], len(files), rounds)))
    images = [crops["plain"](f) for f in files[:n]]
    rows.append(("collate of the uint8 crops (num_workers=0: reused huge pages)",
                 per_image_ms(lambda: BatchCollate()([(i, 0) for i in images]), n, rounds)))
    batch = torch.stack(images)
    kernels = ["numba", "torch"] if BatchAugment(MEAN, STD).kernel_on(torch.device("cpu")) == "numba" else ["torch"]
    for kernel in kernels:
        for photometric in (False, True):
            augment = BatchAugment(MEAN, STD, photometric=photometric, kernel=kernel)
            chunks = batch.split(batch_size)
            rows.append((f"batch step, {kernel}, {'photometric distortion + normalise' if photometric else 'normalise'}",
                         per_image_ms(lambda a=augment: [a(c, train=True) for c in chunks], n, rounds)))
    for dtype in (torch.uint8, torch.float32):
        image = images[0].to(dtype)
        for slots in (False, True):
            rows.append((f"a {str(dtype).removeprefix('torch.')} batch through one worker, "
                         f"{'reused shared slots' if slots else 'a fresh segment a batch'} (ready crops)",
                         min(crossing_ms(image, batch_size, slots) for _ in range(rounds))))
    print(f"{len(files)} JPEGs under {folder}, {size} px, batch {batch_size}, best of {rounds} passes, one core")
    print(machine_line())
    print("| step | ms per image |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} |")
    print(machine_line())
    return rows


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
            entry[f"rounds workers={w}"] = values
        table.append(entry)
    print_table(table, settings)
    print(machine_line())
    return table


def round_ratios(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median, min and max of ``a / b`` round by round (the two measured in the same round, close in time)."""
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(ratios), min(ratios), max(ratios)


def print_table(table: list[dict[str, object]], settings: list[int]) -> None:
    """img/s medians with their range; each ratio the median of the rounds' own ratios, with their range."""
    rounds = lambda row, w: row[f"rounds workers={w}"]  # noqa: E731
    decode = table[0]
    timm_row = next(r for r in table if r["pipeline"].startswith("timm"))
    top = max(settings)
    head = (f"| pipeline | img/s per core (workers=0) | {' | '.join(f'workers={w}' for w in settings[1:])} | "
            f"{top} vs 1 worker | per core vs decode PIL | per core vs timm |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in table:
        cells = [f"{r[f'workers={w}']:.1f} ({r[f'spread workers={w}'][0]:.0f}-{r[f'spread workers={w}'][1]:.0f})"
                 for w in settings]
        scaling = round_ratios(rounds(r, top), rounds(r, 1))
        vs_decode = [100 * x for x in round_ratios(rounds(r, 0), rounds(decode, 0))]
        vs_timm = round_ratios(rounds(r, 0), rounds(timm_row, 0))
        print(f"| {r['pipeline']} | {' | '.join(cells)} | {scaling[0]:.2f}x ({scaling[1]:.2f}-{scaling[2]:.2f}) | "
              f"{vs_decode[0]:.0f}% ({vs_decode[1]:.0f}-{vs_decode[2]:.0f}) | "
              f"{vs_timm[0]:.2f}x ({vs_timm[1]:.2f}-{vs_timm[2]:.2f}) |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="a folder of JPEGs (searched recursively); default: make one")
    parser.add_argument("--make-count", type=int, default=272, help="JPEGs in the folder made without --folder")
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="the N of the N-worker column (1 is always run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=12, help="timed batches per figure")
    parser.add_argument("--steps", action="store_true", help="each step's cost per image on one core instead")
    args = parser.parse_args(argv)
    folder = args.folder
    if folder is None:
        folder = CACHE / f"pipeline-jpegs-{args.make_count}"
        if not any(folder.glob("*.jpg")):
            print(f"making {args.make_count} ImageNet-sized JPEGs in {folder}")
            make_jpeg_folder(folder, args.make_count)
    if args.steps:
        steps(folder, args.size, args.batch_size, args.rounds)
    else:
        run(folder, args.size, args.batch_size, args.workers, args.rounds, args.batches)


if __name__ == "__main__":
    main()
