"""Image files to RGB pixels in the loader's workers: the fastest installed JPEG decoder, reduced-size decodes.

A random training crop is drawn from the file's header size before any pixel is decoded; when the crop is at
least ``r`` times the target on both sides (r = 2, 4, 8), libjpeg-turbo decodes the JPEG at 1/r scale in its
DCT (PIL's ``draft()`` or simplejpeg's ``min_factor``), which costs a fraction of the full decode, and the crop
box is mapped onto the smaller image. The box never shrinks below the target size (``reduction``), so the
final resize still only ever downsamples what a full decode would have downsampled.

Decoders (``data.decoder``): ``pil`` (Pillow, already libjpeg-turbo), ``simplejpeg`` (libjpeg-turbo without
Pillow's per-call overhead, ~1.6x faster on 400-500 px JPEGs here; YCbCr and grey JPEGs only, everything else
goes through Pillow), ``auto`` (simplejpeg when installed). Every decoder hands back an ``RGB`` PIL image and
raises ``OSError`` / ``ValueError`` on unreadable files, which the dataset turns into ``BadImage`` values.
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from contracts.errors import ConfigError, check_choice

DECODERS = ("auto", "pil", "simplejpeg")
REDUCTIONS = (8, 4, 2)  # the DCT scalings that are cheaper than a full decode (7/8 or 3/4 are slower than 1/1)
JPEG_MAGIC = b"\xff\xd8"
SIMPLEJPEG_SPACES = {"YCbCr": "RGB", "Gray": "RGB"}  # CMYK / YCCK keep Pillow's conversion, as before
Box = tuple[float, float, float, float]  # left, top, right, bottom in the decoded image's pixels


def resolve_decoder(name: str) -> str:
    """``auto`` → simplejpeg when importable, else pil; an explicit ``simplejpeg`` must be installed."""
    check_choice("data.decoder", name, DECODERS)
    installed = importlib.util.find_spec("simplejpeg") is not None
    if name == "simplejpeg" and not installed:
        raise ConfigError("data.decoder=simplejpeg is not installed (pip install simplejpeg); use data.decoder=pil or auto")
    if name == "auto":
        return "simplejpeg" if installed else "pil"
    return name


def crop_box(width: int, height: int, scale: tuple[float, float], ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """``(left, top, w, h)`` of a random crop: RandomResizedCrop's draw (10 tries, then the centre crop)."""
    area = width * height
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,)).item())
            left = int(torch.randint(0, width - w + 1, size=(1,)).item())
            return left, top, w, h
    in_ratio = width / height  # fallback: the whole image, clipped to the ratio range
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def reduction(crop_w: int, crop_h: int, size: int) -> int:
    """The largest DCT reduction r with the crop still >= ``size`` on both sides after it (1: full decode)."""
    return next((r for r in REDUCTIONS if crop_w >= size * r and crop_h >= size * r), 1)


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")  # drops alpha; CMYK / grey / 16-bit become 3-channel


def _simplejpeg(data: bytes, header: tuple[int, int, str, str], r: int) -> np.ndarray:
    import simplejpeg

    height, width = header[0], header[1]
    return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=-(-height // r), min_width=-(-width // r),
                                  min_factor=r)  # H x W x 3 uint8, strict: truncated files raise ValueError


def _decode(path: str, decoder: str, size: int | None,
            draw: Callable[[int, int], tuple[int, int, int, int]]) -> tuple[Image.Image | np.ndarray, Box]:
    """``decode_cropped``'s work: simplejpeg hands back its ``H x W x 3`` array, Pillow its RGB image."""
    with open(path, "rb") as f:
        data = f.read()
    if decoder == "simplejpeg" and data[:2] == JPEG_MAGIC:
        import simplejpeg

        header = simplejpeg.decode_jpeg_header(data)  # (height, width, colourspace, subsampling)
        if header[2] in SIMPLEJPEG_SPACES:
            left, top, w, h = draw(header[1], header[0])
            pixels = _simplejpeg(data, header, reduction(w, h, size) if size else 1)
            sx, sy = header[1] / pixels.shape[1], header[0] / pixels.shape[0]
            return pixels, (left / sx, top / sy, (left + w) / sx, (top + h) / sy)
    import io

    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:  # PIL's message would name the in-memory buffer, not the file (BadImage does)
        raise UnidentifiedImageError("cannot identify image file") from None
    width, height = img.size
    left, top, w, h = draw(width, height)
    r = reduction(w, h, size) if size else 1
    if r > 1 and img.format == "JPEG":
        img.draft(None, (width // r, height // r))  # picks the 1/r DCT scaling (see JpegImageFile.draft)
    img = _rgb(img)  # decodes
    sx, sy = width / img.width, height / img.height
    return img, (left / sx, top / sy, (left + w) / sx, (top + h) / sy)


def decode_cropped(path: str, decoder: str, size: int | None,
                   draw: Callable[[int, int], tuple[int, int, int, int]]) -> tuple[Image.Image, Box]:
    """The RGB image decoded at the smallest scale the crop ``draw(width, height)`` allows for a ``size`` output
    (None: full scale), and the crop's box in it."""
    img, box = _decode(path, decoder, size, draw)
    return (Image.fromarray(img) if isinstance(img, np.ndarray) else img), box


def decode_pixels(path: str, decoder: str, size: int | None,
                  draw: Callable[[int, int], tuple[int, int, int, int]]) -> tuple[np.ndarray, Box]:
    """``decode_cropped`` as a writable ``H x W x 3`` uint8 array (the training crops' input: no PIL image is made
    from simplejpeg's array, and Pillow's is copied out once)."""
    img, box = _decode(path, decoder, size, draw)
    if not isinstance(img, np.ndarray):
        img.load()  # a draft or lazy open decodes here, so its errors are the decoder's (BadImage)
        img = np.array(img)
    return img, box


def decode_full(path: str, decoder: str) -> Image.Image:
    """The whole image as RGB (evaluation): the same decoders, no reduction."""
    return decode_cropped(path, decoder, None, lambda w, h: (0, 0, w, h))[0]
