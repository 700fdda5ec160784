"""The region decoder (``lightning_modules/jpeg_region.c``, ``data.decoder=region``): the crop's pixels are
Pillow's to the bit for every kind of JPEG, odd files go where they went before, and the build is optional."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_modules.decode import crop_box, decode_pixels, pixel_box, reduction, region_built
from lightning_modules.transforms import TrainCrop

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
if not region_built():  # CI installs gcc and libjpeg-turbo's headers (.ci/run), so there it must have been built
    (pytest.fail if IN_CI else pytest.skip)("lightning_modules._jpeg_region was not built (gcc, libjpeg62-turbo-dev)",
                                           allow_module_level=True)
from lightning_modules import _jpeg_region  # noqa: E402

# (name, Pillow mode, save options): the chroma layouts, grey, progressive scans, restart markers, odd sizes
KINDS = [("4:2:0", "RGB", {"subsampling": 2}), ("4:2:2", "RGB", {"subsampling": 1}),
         ("4:4:4", "RGB", {"subsampling": 0}), ("grey", "L", {}), ("progressive", "RGB", {"progressive": True}),
         ("restart markers", "RGB", {"restart_marker_rows": 1}), ("optimised tables", "RGB", {"optimize": True})]


def photo(path: Path, mode: str, size: tuple[int, int], seed: int = 0, **options: object) -> Path:
    """A JPEG with smooth colour, edges and noise (so chroma and edges matter), ``size`` = (width, height)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(coarse).astype(np.int16) + rng.normal(0, 12, (size[1], size[0], 3)).astype(np.int16)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).convert(mode).save(path, quality=90, **options)
    return path


def pillow_pixels(path: Path, r: int) -> np.ndarray:
    """Pillow's decode at 1/r scale (``draft``), as RGB."""
    img = Image.open(path)
    if r > 1:
        img.draft(None, (img.width // r, img.height // r))
    return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("name,mode,options", KINDS, ids=[k[0] for k in KINDS])
def test_the_region_is_pillows_decode_of_it_to_the_bit(tmp_path: Path, name: str, mode: str, options: dict) -> None:
    path = photo(tmp_path / "p.jpg", mode, (1203, 901), **options)  # odd sizes: partial MCUs at both edges
    gen = torch.Generator().manual_seed(1)
    for size, r in ((600, 1), (299, 1), (299, 2), (150, 4), (64, 8)):
        reference = pillow_pixels(path, r)
        for _ in range(6):
            torch.manual_seed(int(torch.randint(1 << 30, (1,), generator=gen)))
            while True:  # a crop of GoogLeNet's draw that allows exactly this reduction
                left, top, w, h = crop_box(1203, 901, (0.08, 1.0), (3 / 4, 4 / 3))
                if reduction(w, h, size) == r:
                    break
            pixels, box, (x, y) = decode_pixels(str(path), "region", size, lambda *_: (left, top, w, h))
            assert reference.shape[:2] == (-(-901 // r), -(-1203 // r))
            x0, y0, x1, y1 = pixel_box(box, reference.shape[1], reference.shape[0])
            assert pixels.shape[0] == y1 - y0 < reference.shape[0] or (top == 0 and h == 901)  # only the crop's rows
            np.testing.assert_array_equal(pixels[y0 - y:y1 - y, x0 - x:x1 - x], reference[y0:y1, x0:x1], err_msg=name)


def test_train_crops_from_the_region_decoder_equal_pillows_for_every_resize_and_flip(tmp_path: Path) -> None:
    paths = [photo(tmp_path / f"{i}.jpg", "RGB", (480 - 37 * i, 360 + 29 * i), seed=i) for i in range(4)]
    for size in (299, 112, 40):  # 40 px from ~400 px crops: reduced decodes too
        ours, pillow = TrainCrop(size, decoder="region"), TrainCrop(size, decoder="pil")
        for seed in range(24):  # each of the three resize methods, with and without the flip
            path = str(paths[seed % len(paths)])
            torch.manual_seed(seed)
            a = ours(path)
            torch.manual_seed(seed)
            assert torch.equal(a, pillow(path)), (path, size, seed)


def test_files_the_fast_decoders_do_not_take_go_through_pillow_or_are_bad(tmp_path: Path) -> None:
    whole = lambda path, decoder: decode_pixels(str(path), decoder, None, lambda w, h: (0, 0, w, h))  # noqa: E731
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 50, 100, 0)).save(cmyk)  # libjpeg cannot make RGB of it; Pillow can
    np.testing.assert_array_equal(whole(cmyk, "region").pixels, whole(cmyk, "pil").pixels)
    trailing = tmp_path / "trailing.jpg"  # bytes after the end marker: a whole decode by Pillow, as before
    trailing.write_bytes(photo(tmp_path / "t.jpg", "RGB", (64, 48)).read_bytes() + b"\0" * 9)
    np.testing.assert_array_equal(whole(trailing, "region").pixels, whole(trailing, "pil").pixels)
    data = photo(tmp_path / "cut.jpg", "RGB", (640, 480)).read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8 not a JPEG \xff\xd9")
    for bad in (truncated, fake):  # a crop in the decodable top half must not hide the damage
        with pytest.raises((OSError, ValueError)):
            decode_pixels(str(bad), "region", 32, lambda w, h: (0, 0, 64, 64))
    damaged = bytearray(data)  # bytes of the scan overwritten, the end marker intact: libjpeg warns, Pillow decodes
    damaged[len(data) // 3:len(data) // 3 + 200] = b"\xff\x00\xff\xd0" * 50
    with pytest.raises(ValueError, match="Corrupt JPEG data"):  # the extension is strict ...
        _jpeg_region.decode(bytes(damaged), 1, 0, 0, 640, 480)
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bytes(damaged))
    for decoder in ("region", "simplejpeg"):  # ... so the file is Pillow's: a training image, as it was before
        np.testing.assert_array_equal(whole(path, decoder).pixels, whole(path, "pil").pixels)


def test_the_extension_refuses_what_it_cannot_do_with_one_message(tmp_path: Path) -> None:
    data = photo(tmp_path / "p.jpg", "RGB", (100, 80)).read_bytes()
    assert _jpeg_region.header(data) == (100, 80, "YCbCr")
    with pytest.raises(ValueError, match="only 1, 2, 4 or 8"):
        _jpeg_region.decode(data, 3, 0, 0, 10, 10)
    with pytest.raises(ValueError, match=r"region \[0, 60\) x \[0, 20\) outside the 50 x 40 image"):
        _jpeg_region.decode(data, 2, 0, 0, 60, 20)
    with pytest.raises(ValueError, match="JPEG"):
        _jpeg_region.header(b"\xff\xd8 not a JPEG")


@pytest.mark.slow
def test_the_build_goes_on_without_a_compiler(tmp_path: Path) -> None:
    """setup.py's extension is optional: where it cannot compile, the install still succeeds, without it."""
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-temp", str(tmp_path / "t"),
                          "--build-lib", str(tmp_path / "lib")], cwd=REPO, env={**os.environ, "CC": "false"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'building extension "lightning_modules._jpeg_region" failed' in out.stderr
    assert not list(tmp_path.rglob("*.so"))
