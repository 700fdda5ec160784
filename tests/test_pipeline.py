"""The input pipeline: batched photometric distortion vs torchvision's per-sample one, uint8 batches + on-device
normalisation vs the float path, reduced-size decodes, training throughput, the benchmark command."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats
from torchvision.transforms import InterpolationMode, v2

from lightning_modules import fused_augment
from lightning_modules.batch_augment import PHOTOMETRIC, BatchAugment, Scratch, draw_jitter, hue, hue_, jitter_
from lightning_modules.collate import stack_images
from lightning_modules.decode import DECODERS, crop_box, decode_pixels, pixel_box, reduction, resolve_decoder
from lightning_modules.host_memory import HostPool
from lightning_modules.transforms import TrainCrop, eval_transform, resized_crop_hwc
from tools.pipeline_bench import main as pipeline_bench, make_jpeg_folder

from helpers import TINY_TRAIN, make_train_cfg

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _installed(decoder: str) -> bool:
    from contracts.errors import ConfigError

    try:
        return resolve_decoder(decoder) == decoder
    except ConfigError:
        return False


DECODERS_HERE = [d for d in DECODERS[1:] if _installed(d)]
needs_numba = pytest.mark.skipif(not fused_augment.available(), reason="numba is not installed (the fast extra)")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jpeg_folder(tmp_path_factory.mktemp("photos"), count=6)


def natural_batch(n: int, size: int = 24, seed: int = 0) -> torch.Tensor:
    """uint8 images with colour and structure (smooth fields + noise), not flat noise."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=gen)
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return (fine + 0.05 * torch.randn(n, 3, size, size, generator=gen)).clamp(0, 1).mul(255).round().to(torch.uint8)


def torchvision_params(n: int, seed: int) -> list[dict]:
    jitter = v2.ColorJitter(**PHOTOMETRIC)
    torch.manual_seed(seed)
    return [jitter.make_params([]) for _ in range(n)]


def test_the_draw_matches_color_jitter_in_distribution() -> None:
    n = 3000
    ours = draw_jitter(n, torch.Generator().manual_seed(1))
    theirs = torchvision_params(n, seed=2)
    names = ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor")
    for column, name in enumerate(names):  # each factor: same distribution (two-sample KS)
        assert stats.ks_2samp(ours.factors[:, column].numpy(), [p[name] for p in theirs]).pvalue > 1e-3, name
    perms = list(itertools.permutations(range(4)))
    count = lambda orders: np.array([sum(tuple(o) == p for o in orders) for p in perms])  # noqa: E731
    ours_n, theirs_n = count(ours.order.tolist()), count([p["fn_idx"].tolist() for p in theirs])
    # every order equally likely in both (chi-square against uniform), and the two alike (contingency)
    assert stats.chisquare(ours_n).pvalue > 1e-3 and stats.chisquare(theirs_n).pvalue > 1e-3
    assert stats.chi2_contingency(np.stack([ours_n, theirs_n])).pvalue > 1e-3


def test_same_draw_gives_torchvisions_float_result_both_ways() -> None:
    images = natural_batch(24).float().div(255)
    jitter = draw_jitter(24, torch.Generator().manual_seed(3))
    reference = v2.ColorJitter(**PHOTOMETRIC)
    expected = torch.stack([
        reference.transform(img, {"fn_idx": order, "brightness_factor": f[0].item(), "contrast_factor": f[1].item(),
                                  "saturation_factor": f[2].item(), "hue_factor": f[3].item()})
        for img, order, f in zip(images, jitter.order, jitter.factors)])
    for gather in (False, True):  # per-image views (CPU) and gathered subsets (GPU)
        assert torch.allclose(jitter_(images.clone(), jitter, gather=gather), expected, atol=2e-5), gather
    if fused_augment.available():  # the fused CPU kernel, from the same uint8 images (no normalisation)
        fused = fused_augment.augment(natural_batch(24), torch.empty(images.shape), (1.0,) * 3, (0.0,) * 3,
                                      jitter.order, jitter.factors)
        assert torch.allclose(fused, expected, atol=2e-5)


@pytest.mark.slow  # torch.compile's first compile: seconds, more on a busy machine
def test_the_compiled_hue_step_gives_the_eager_result() -> None:
    images = natural_batch(6)
    eager = BatchAugment(MEAN, STD, photometric=True, seed=8, kernel="torch")(images, train=True)
    compiled = BatchAugment(MEAN, STD, photometric=True, seed=8, kernel="compile")(images, train=True)
    assert torch.allclose(eager, compiled, atol=1e-4)


def test_batched_output_matches_the_per_sample_uint8_path_in_distribution() -> None:
    # the per-sample path as before (ColorJitter on each uint8 image, then scaled) vs the batch, independent draws
    images = natural_batch(400, seed=4)
    torch.manual_seed(5)
    jitter = v2.ColorJitter(**PHOTOMETRIC)
    before = torch.stack([jitter(img) for img in images]).float().div(255)
    after = BatchAugment((0.0,) * 3, (1.0,) * 3, photometric=True, seed=6)(images, train=True)
    hsv_sat = lambda x: (x.amax(1) - x.amin(1)).mean((1, 2))  # noqa: E731  per-image mean chroma
    for name, stat in (("mean", lambda x: x.mean((1, 2, 3))), ("contrast", lambda x: x.std((1, 2, 3))),
                       ("chroma", hsv_sat), ("red share", lambda x: (x[:, 0] / x.sum(1).clamp_min(1e-3)).mean((1, 2)))):
        assert stats.ks_2samp(stat(before).numpy(), stat(after).numpy()).pvalue > 1e-3, name
    assert abs(before.mean() - after.mean()) < 2 / 255  # no bias beyond the old path's uint8 truncations


def test_uint8_batches_normalised_on_the_device_equal_the_float_path() -> None:
    images = natural_batch(8, size=40)
    float_path = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    expected = torch.stack([float_path(img) for img in images])
    assert torch.allclose(BatchAugment(MEAN, STD)(images, train=False), expected, atol=1e-5)
    views = torch.stack([eval_transform(16, mode="10crop")(img) for img in images])  # N x V x C x H x W stacks too
    assert views.dtype == torch.uint8
    assert torch.allclose(BatchAugment(MEAN, STD)(views, train=False), float_path(views.flatten(0, 1)).view(views.shape),
                          atol=1e-5)


def test_train_crops_draw_random_resized_crops_boxes() -> None:
    for seed in range(50):
        torch.manual_seed(seed)
        theirs = v2.RandomResizedCrop(32).make_params([torch.zeros(3, 120, 200)])
        torch.manual_seed(seed)
        assert crop_box(200, 120, (0.08, 1.0), (3 / 4, 4 / 3)) == (theirs["left"], theirs["top"], theirs["width"],
                                                                   theirs["height"])


@pytest.mark.parametrize("decoder", DECODERS_HERE)
def test_a_train_crop_equals_the_tensor_crop_of_the_whole_image_within_rounding(photos: Path, decoder: str) -> None:
    path = str(next(photos.glob("*.jpg")))
    whole = v2.PILToTensor()(Image.open(path).convert("RGB"))
    # 240 px from a <= 500 px image: never a reduced decode (that resamples in the DCT; tested below)
    crop = TrainCrop(240, hflip=False, random_interpolation=False, decoder=decoder)
    torch.manual_seed(7)
    ours = crop(path)
    torch.manual_seed(7)
    left, top, w, h = crop_box(whole.shape[-1], whole.shape[-2], crop.scale, crop.ratio)
    theirs = v2.functional.resized_crop(whole, top, left, h, w, [240, 240], InterpolationMode.BILINEAR, antialias=True)
    diff = (ours.int() - theirs.int()).abs()
    assert ours.dtype == torch.uint8 and ours.shape == (3, 240, 240) and ours.is_contiguous()
    if decoder in ("pil", "region"):  # Pillow's decode (region: of the crop's pixels alone), and the crop is
        # torch's antialiased resize, as resized_crop's
        assert torch.equal(ours, theirs)
    assert diff.float().mean() < 1.0 and diff.max() <= 24  # simplejpeg's rounding against PIL's decode only


@pytest.mark.parametrize("decoder", DECODERS_HERE)
def test_reduced_size_decode_never_gives_a_crop_smaller_than_the_target(tmp_path: Path, decoder: str) -> None:
    path = tmp_path / "big.jpg"
    Image.fromarray(natural_batch(1, size=8)[0].permute(1, 2, 0).numpy()).resize((1203, 901)).save(path, quality=90)
    whole = Image.open(path).convert("RGB")
    reduced = 0
    for seed, size in itertools.product(range(40), (64, 150, 299)):
        draw = lambda w, h: crop_box(w, h, (0.08, 1.0), (3 / 4, 4 / 3))  # noqa: E731
        torch.manual_seed(seed)
        l, t, w, h = draw(1203, 901)
        r = reduction(w, h, size)
        torch.manual_seed(seed)
        pixels, box, (x, y) = decode_pixels(str(path), decoder, size, draw)
        left, top, right, bottom = box
        width, height = -(-1203 // r), -(-901 // r)  # the 1/r-scaled image (pixels: all of it, or a region)
        assert right - left >= size and bottom - top >= size or r == 1  # full scale: any crop
        assert 0 <= left < right <= width + 1e-6 and 0 <= top < bottom <= height + 1e-6
        assert x <= left and y <= top and right <= x + pixels.shape[1] + 1e-6 and bottom <= y + pixels.shape[0] + 1e-6
        if r > 1:
            reduced += 1  # the same patch as from the whole image, up to the DCT's resampling
            full = np.asarray(whole.resize((size, size), Image.Resampling.BILINEAR, box=(l, t, l + w, t + h)), float)
            ours = resized_crop_hwc(pixels, box, size, InterpolationMode.BILINEAR, False, (x, y))  # the train crop's
            assert np.abs(ours.permute(1, 2, 0).numpy().astype(float) - full).mean() < 3  # resize of the whole pixels
    assert reduced > 20  # the reduced decodes were taken where the crop allowed
    assert reduction(600, 1200, 299) == 2 and reduction(597, 1200, 299) == 1 and reduction(2400, 2400, 299) == 8


def test_resized_crops_are_pils_nearest_and_torchvisions_antialiased_resizes_with_the_flip() -> None:
    pixels = natural_batch(1, size=97, seed=11)[0].permute(1, 2, 0)[:, :83].numpy().copy()  # 97 x 83, H x W x 3
    gen = torch.Generator().manual_seed(12)
    for _ in range(30):
        left, top = (torch.rand(2, generator=gen) * torch.tensor([40.0, 50.0])).tolist()
        right, bottom = left + 5 + 38 * torch.rand(1, generator=gen).item(), top + 5 + 47 * torch.rand(1, generator=gen).item()
        box, size = (left, top, right, bottom), int(torch.randint(8, 60, (1,), generator=gen))
        pil = np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.NEAREST, box=box))
        for flip in (False, True):
            ours = resized_crop_hwc(pixels, box, size, InterpolationMode.NEAREST, flip)
            assert ours.is_contiguous() and ours.shape == (3, size, size)
            assert np.array_equal(ours.permute(1, 2, 0).numpy(), pil[:, ::-1] if flip else pil)  # PIL's, bit for bit
        l, t, r, b = pixel_box(box, 83, 97)
        assert l <= left + 1e-6 and t <= top + 1e-6 and r >= right - 1e-6 and b >= bottom - 1e-6 and r <= 83 and b <= 97
        whole = torch.from_numpy(pixels).permute(2, 0, 1)
        for mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC):
            theirs = v2.functional.resized_crop(whole, t, l, b - t, r - l, [size, size], mode, antialias=True)
            assert torch.equal(resized_crop_hwc(pixels, box, size, mode, False), theirs), mode
            assert torch.equal(resized_crop_hwc(pixels, box, size, mode, True), theirs.flip(-1)), mode


def test_the_in_place_hue_step_is_the_reference_hue_bit_for_bit() -> None:
    gen = torch.Generator().manual_seed(13)
    x = natural_batch(12, size=40, seed=13).float().div(255)
    x[:4] = x[:4] * torch.rand(4, 3, 1, 1, generator=gen)  # darker, tinted
    x[:, :, :5] = x[:, :1, :5]                              # grey rows (chroma 0)
    x[:, 1, 5:10] = x[:, 0, 5:10]                           # ties: r == g, then g == b, then all three maxed
    x[:, 2, 10:15] = x[:, 1, 10:15]
    x[:, :, 15:18] = 1.0
    x[:, 0, 18:20], x[:, 1, 18:20] = 1.0, 0.0               # saturated
    shifts = torch.cat([torch.tensor([0.2, -0.2, 0.0, 1 / 6]), torch.rand(8, generator=gen) * 0.4 - 0.2])
    expected = hue(x, shifts)
    assert torch.equal(hue_(x.clone(), shifts), expected)  # the whole batch at once, fresh temporaries
    scratch, per_image = Scratch(), x.clone()
    for i in range(len(x)):  # the CPU path: one image at a time, its temporaries reused
        hue_(per_image[i:i + 1], shifts[i:i + 1], scratch)
    assert torch.equal(per_image, expected)


@pytest.mark.parametrize("photometric", [True, False])
def test_the_per_image_cpu_batch_step_is_the_batched_one_bit_for_bit(photometric: bool) -> None:
    images = natural_batch(16, size=48, seed=14)
    ours, batched = (BatchAugment(MEAN, STD, photometric=photometric, seed=15, kernel="torch") for _ in range(2))
    for _ in range(3):  # later batches reuse the scratch buffers and the host memory
        out = ours(images, train=True)
        assert torch.equal(out, batched._apply(images, train=True)) and out.dtype == torch.float32
    views = torch.stack([eval_transform(16, mode="10crop")(img) for img in images[:4]])
    assert torch.equal(ours(views, train=False), batched._apply(views, train=False))


def hard_pixels(n: int, size: int, seed: int) -> torch.Tensor:
    """uint8 images with the hue step's edge cases: greys, ties between channels, maxed and saturated pixels."""
    x = natural_batch(n, size=size, seed=seed)
    x[:, :, :5] = x[:, :1, :5]  # grey rows
    x[:, 1, 5:10] = x[:, 0, 5:10]  # r == g, then g == b, then all three maxed
    x[:, 2, 10:15] = x[:, 1, 10:15]
    x[:, :, 15:18] = 255
    x[:, 0, 18:20], x[:, 1, 18:20] = 255, 0
    return x


@needs_numba
@pytest.mark.parametrize("photometric", [True, False])
def test_the_numba_kernel_is_the_torch_batch_step_within_float_rounding(photometric: bool) -> None:
    images = hard_pixels(32, size=41, seed=17)  # 32 images: every operation at every step, most of the 24 orders
    fused, eager = (BatchAugment(MEAN, STD, photometric=photometric, seed=18, kernel=k) for k in ("numba", "torch"))
    assert fused.kernel_on(torch.device("cpu")) == "numba" and eager.kernel_on(torch.device("cpu")) == "torch"
    for _ in range(2):  # the same draws batch after batch (one generator each, seeded alike)
        ours, theirs = fused(images, train=True), eager(images, train=True)
        assert ours.dtype == torch.float32 and ours.shape == images.shape
        assert (ours - theirs).abs().max() < 3e-5  # float32 rounding, through 1 / std ~ 4.4
    views = torch.stack([eval_transform(16, mode="10crop")(img) for img in images[:4]])
    assert (fused(views, train=False) - eager(views, train=False)).abs().max() < 3e-5
    out = torch.empty(images.shape)
    assert fused(images, train=False, out=out) is out  # a given output (a loader's shared slot) is written


def test_a_numba_kernel_without_numba_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from contracts.errors import ConfigError

    monkeypatch.setattr(fused_augment, "njit", None)  # as on a machine without the fast extra
    with pytest.raises(ConfigError, match=r"data.augment_kernel=numba needs numba, which is not installed here"):
        BatchAugment(MEAN, STD, kernel="numba")
    assert BatchAugment(MEAN, STD, photometric=True).kernel_on(torch.device("cpu")) == "torch"  # auto falls back
    with pytest.raises(ConfigError, match="unknown data.augment_kernel 'fast'; valid choices: auto, numba, torch, compile"):
        BatchAugment(MEAN, STD, kernel="fast")


def test_host_memory_is_reused_only_once_no_tensor_holds_it() -> None:
    pool = HostPool(keep=2)
    shape = (5, 3, 400, 400)  # 9.6 MB: on huge pages
    first = pool.empty(shape)
    assert first.shape == shape and first.dtype == torch.float32 and first.data_ptr() % (2 << 20) == 0
    address = first.data_ptr()
    view = first[1:3]
    del first
    second = pool.empty(shape)  # the view keeps the first one's memory in use
    assert second.data_ptr() != address
    del view
    assert pool.empty(shape).data_ptr() == address  # free again: handed back
    assert pool.empty((2, 3)).shape == (2, 3)  # small tensors: plain torch.empty
    images = list(natural_batch(20, size=400, seed=16))  # 9.6 MB in uint8: a pooled batch
    assert torch.equal(stack_images(images), torch.stack(images))


def test_a_bad_decoder_name_is_one_line() -> None:
    from contracts.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown data.decoder 'turbo'; valid choices: auto, pil, simplejpeg, region"):
        resolve_decoder("turbo")


def test_training_states_its_throughput_and_loader_wait(tmp_path: Path, photos: Path, capsys) -> None:
    from run import run_task

    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "data" / split / cls).mkdir(parents=True)
            for p in sorted(photos.glob("*.jpg"))[:3]:
                (tmp_path / "data" / split / cls / p.name).write_bytes(p.read_bytes())
    (tmp_path / "data" / "train" / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    record = run_task(make_train_cfg("data=imagefolder", f"data.root={tmp_path / 'data'}", "data.batch_size=2",
                                     "data.num_workers=1", "data.input_size=32"), tmp_path / "run")
    assert record["status"] == "ok", record["error"]
    assert record["timed_steps"] >= 1 and record["steady_images_per_s"] > 0
    assert 0 <= record["loader_wait_share"] < 1 and isinstance(record["data_bound"], bool)
    assert record["batch_size"] == 2 and record["input_size"] == 32 and record["skipped_images"] == 1
    out = capsys.readouterr().out
    assert "bound: the" in out and "of each step waiting for data" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_gpu_decode_for_training_without_cuda_is_one_line(tmp_path: Path, photos: Path) -> None:
    from run import run_task

    for split, cls in itertools.product(("train", "val"), ("a", "b")):
        (tmp_path / split / cls).mkdir(parents=True)
        (tmp_path / split / cls / "x.jpg").write_bytes(next(photos.glob("*.jpg")).read_bytes())
    record = run_task(make_train_cfg("data=imagefolder", f"data.root={tmp_path}", "data.decode=gpu"), tmp_path / "run")
    assert record["status"] == "error"
    assert record["error"].startswith("data.decode=gpu needs a CUDA device; this run trains on cpu")


GPU_DECODE_LOADER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
from torch.utils.data import DataLoader
from lightning_modules.collate import encoded_collate
from lightning_modules.data import RGBImageFolder
from lightning_modules.gpu_decode import read_file, unpack
loader = DataLoader(RGBImageFolder(sys.argv[1], transform=read_file), batch_size=96, num_workers=2,
                    collate_fn=encoded_collate, prefetch_factor=2, timeout=60)
print(sum(len(unpack(packed)) for packed, _labels, _bad in loader))
"""


def test_gpu_decode_batches_cross_the_worker_boundary_as_one_buffer(tmp_path: Path, photos: Path) -> None:
    """One tensor per file cost one file descriptor each: 2 workers x 2 batches of 96 ran past a limit of 64 (and,
    on a GPU node, 12 workers x 2 x 128 past its limit: the loader hung). Packed, a batch costs two."""
    import subprocess
    import sys

    from lightning_modules.collate import encoded_collate
    from lightning_modules.gpu_decode import read_file, unpack

    files = sorted(photos.glob("*.jpg"))
    (tmp_path / "a").mkdir()
    for i in range(192):
        (tmp_path / "a" / f"{i}.jpg").write_bytes(files[i % len(files)].read_bytes())
    samples = [(read_file(str(f)), 0) for f in files]
    packed, labels, _bad = encoded_collate(samples)
    assert packed.data.dim() == 1 and packed.lengths.tolist() == [len(d.data) for d, _ in samples]
    assert len(labels) == len(files)
    assert all(torch.equal(got.data, want.data) and got.path == want.path
               for got, (want, _) in zip(unpack(packed), samples, strict=True))
    done = subprocess.run([sys.executable, "-c", GPU_DECODE_LOADER, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["192"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_decode_trains_from_the_device(tmp_path: Path, photos: Path) -> None:
    from run import run_task

    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            for p in sorted(photos.glob("*.jpg"))[:3]:
                (tmp_path / split / cls / p.name).write_bytes(p.read_bytes())
    overrides = [o for o in TINY_TRAIN if o != "trainer.accelerator=cpu"]
    record = run_task(make_train_cfg(*overrides, "trainer.accelerator=gpu", "data=imagefolder", f"data.root={tmp_path}",
                                     "data.decode=gpu", "data.batch_size=2", "data.input_size=32"), tmp_path / "run")
    assert record["status"] == "ok", record["error"]
    assert record["steady_images_per_s"] > 0


def test_the_benchmark_command_prints_every_row(photos: Path, capsys) -> None:
    pipeline_bench(["--folder", str(photos), "--size", "32", "--batch-size", "2", "--workers", "1", "--rounds", "1",
                    "--batches", "1"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "pipeline |" not in line]
    names = ["decode PIL", "ours default", "ours plain", "timm create_transform", "torchvision ref preset"]
    # the kernel auto takes (numba, or torch without it), the same with the batch step in the main process, torch, compile
    assert sum(line.startswith("| ours default") for line in rows) == (4 if fused_augment.available() else 3)
    assert any("batch step in the main process" in line for line in rows)
    assert all(any(line.startswith(f"| {name}") for line in rows) for name in names), out
    assert "6 JPEGs under" in out and "load average" in out


def test_the_step_costs_command_prints_every_step(photos: Path, capsys) -> None:
    pipeline_bench(["--folder", str(photos), "--size", "32", "--batch-size", "2", "--rounds", "1", "--steps"])
    rows = {line.split(" | ")[0][2:]: float(line.split(" | ")[1].rstrip(" |"))
            for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ms per image" not in line}
    assert all(ms > 0 for ms in rows.values())
    assert any(name.startswith("decode alone, PIL") for name in rows)
    assert sum(name.startswith("worker, ") for name in rows) == 2
    assert sum(name.startswith("batch step, ") for name in rows) == (4 if fused_augment.available() else 2)
    assert sum("through one worker" in name for name in rows) == 4  # uint8 and float, fresh segments and slots


def test_the_report_puts_training_img_s_beside_the_matching_train_step_benchmark() -> None:
    import pandas as pd

    from bench.report.pipeline import train_records, train_vs_step_table

    base = {"status": "ok", "model": "googlenet", "batch_size": 32, "input_size": 224, "device": "cpu"}
    records = pd.DataFrame([
        {**base, "task": "train", "run_id": "t1", "steady_images_per_s": 9.0, "loader_wait_share": 0.04,
         "data_bound": False, "mode": None, "images_per_s": 8.0},
        {**base, "task": "benchmark", "run_id": "b1", "mode": "forward_backward", "images_per_s": 10.0},
        {**base, "task": "benchmark", "run_id": "b2", "mode": "forward_backward", "images_per_s": 12.0},
        {**base, "task": "benchmark", "run_id": "b3", "mode": "forward", "images_per_s": 50.0},         # inference
        {**base, "task": "benchmark", "run_id": "b4", "mode": "forward_backward", "images_per_s": 99.0,
         "batch_size": 64},                                                                               # other batch
        {**base, "task": "train", "run_id": "t2", "steady_images_per_s": 3.0, "loader_wait_share": 0.5,
         "data_bound": True, "mode": None, "images_per_s": 3.0, "model": "xception"},                    # no benchmark
    ])
    assert set(train_records(records)["run_id"]) == {"t1", "t2", "b1", "b2", "b4"}
    table = train_vs_step_table(None, records).set_index("run_id")
    assert table.loc["t1", "train_step_images_per_s"] == 12.0 and table.loc["t1", "train / train_step"] == 0.75
    assert table.loc["t1", "_records"] == [0, 2] and pd.isna(table.loc["t2", "train_step_images_per_s"])
    assert bool(table.loc["t2", "data_bound"]) is True
