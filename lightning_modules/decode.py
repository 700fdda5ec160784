"""Image files to RGB pixels in the loader's workers: the fastest installed JPEG decoder, reduced-size decodes.

A random training crop is drawn from the file's header size before any pixel is decoded; when the crop is at
least ``r`` times the target on both sides (r = 2, 4, 8), libjpeg-turbo decodes the JPEG at 1/r scale in its
DCT (PIL's ``draft()`` or simplejpeg's ``min_factor``), which costs a fraction of the full decode, and the crop
box is mapped onto the smaller image. The box never shrinks below the target size (``reduction``), so the
final resize still only ever downsamples what a full decode would have downsampled.

Decoders (``data.decoder``):

- ``region``: this project's libjpeg-turbo extension (``jpeg_region.c``, built at install where a C compiler and
  libjpeg-turbo's headers are), which decodes only the crop: the rows below it are never read, the rows above
  are skipped without IDCT, the columns beside it left out (0.39 ms for GoogLeNet's 299 px crops of 400-500 px
  files here, against simplejpeg's 0.51 for the whole image). Its pixels are Pillow's, to the bit. Files it
  does not take go through Pillow: CMYK / YCCK, those whose header it cannot read, those that do not end in
  the JPEG end marker (truncated files stay bad images; the rows past a crop are never read, so damage there
  alone is not seen) and those whose region it finds damaged;
- ``simplejpeg``: libjpeg-turbo without Pillow's per-call overhead (~1.2x Pillow here), the whole image; YCbCr
  and grey JPEGs, everything else (and what it finds damaged) through Pillow;
- ``pil``: Pillow (libjpeg-turbo too);
- ``auto``: the first of region, simplejpeg, pil that is installed.

The fast decoders are strict (libjpeg's warnings are errors); what they refuse is Pillow's to decode or refuse,
so a damaged JPEG that Pillow decodes (as timm's and torchvision's loaders would) is still a training image, and
one it cannot decode is still a bad one, whichever decoder runs. Pillow raises ``OSError`` / ``ValueError`` on
unreadable files, which the dataset turns into ``BadImage`` values.
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from contracts.errors import ConfigError, check_choice

DECODERS = ("auto", "pil", "simplejpeg", "region")
REDUCTIONS = (8, 4, 2)  # the DCT scalings that are cheaper than a full decode (7/8 or 3/4 are slower than 1/1)
JPEG_MAGIC, JPEG_END = b"\xff\xd8", b"\xff\xd9"
REGION_SPACES = ("YCbCr", "Gray", "RGB")  # what libjpeg converts to RGB itself
SIMPLEJPEG_SPACES = ("YCbCr", "Gray")  # what simplejpeg converts to RGB; CMYK / YCCK keep Pillow's conversion, as before
Box = tuple[float, float, float, float]  # left, top, right, bottom in the decoded image's pixels
Draw = Callable[[int, int], tuple[int, int, int, int]]  # (width, height) -> the crop (left, top, w, h)


class Decoded(NamedTuple):
    """A decode: ``pixels`` (simplejpeg's / the extension's ``H x W x 3`` array or Pillow's RGB image) are the
    part of the (1/r-scaled) decoded image from ``origin`` (x, y) on; ``box`` is the crop in that image's
    pixels (so in ``pixels`` it is ``box - origin``: resizes index from the box itself, to match Pillow's)."""

    pixels: Image.Image | np.ndarray
    box: Box
    origin: tuple[int, int] = (0, 0)


def region_built() -> bool:
    """Whether ``lightning_modules._jpeg_region`` was compiled at install (``setup.py``)."""
    return importlib.util.find_spec("lightning_modules._jpeg_region") is not None


def resolve_decoder(name: str) -> str:
    """``auto`` → region, simplejpeg or pil, the first installed; an explicit one must be installed."""
    check_choice("data.decoder", name, DECODERS)
    simplejpeg = importlib.util.find_spec("simplejpeg") is not None
    if name == "simplejpeg" and not simplejpeg:
        raise ConfigError("data.decoder=simplejpeg is not installed (pip install simplejpeg); use data.decoder=pil or auto")
    if name == "region" and not region_built():
        raise ConfigError("data.decoder=region was not built at install (it needs a C compiler and libjpeg-turbo's "
                          "headers: apt install gcc libjpeg62-turbo-dev, then pip install -e .); use data.decoder=auto")
    if name == "auto":
        return "region" if region_built() else "simplejpeg" if simplejpeg else "pil"
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


def _simplejpeg(data: bytes, size: int | None, draw: Draw) -> Decoded | None:
    """The whole image at the reduction the crop allows (simplejpeg) and the crop's box in it; None for what it
    does not take (CMYK / YCCK) or finds damaged or truncated (it is strict): Pillow's then."""
    import simplejpeg

    try:
        height, width, space, _ = simplejpeg.decode_jpeg_header(data)
        if space not in SIMPLEJPEG_SPACES:
            return None
        left, top, w, h = draw(width, height)
        r = reduction(w, h, size) if size else 1
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=-(-height // r), min_width=-(-width // r),
                                        min_factor=r)  # H x W x 3 uint8
    except ValueError:
        return None
    sx, sy = width / pixels.shape[1], height / pixels.shape[0]
    return Decoded(pixels, (left / sx, top / sy, (left + w) / sx, (top + h) / sy))


def _region(data: bytes, size: int | None, draw: Draw) -> Decoded | None:
    """The crop's pixels alone (``jpeg_region.c``), at the reduction it allows, and the crop's box in them; None
    for what the extension does not take (Pillow's then)."""
    from . import _jpeg_region

    try:
        width, height, space = _jpeg_region.header(data)
    except ValueError:
        return None
    if space not in REGION_SPACES:
        return None
    left, top, w, h = draw(width, height)
    r = reduction(w, h, size) if size else 1
    out_w, out_h = -(-width // r), -(-height // r)  # libjpeg's scaled size: rounded up
    sx, sy = width / out_w, height / out_h
    box = (left / sx, top / sy, (left + w) / sx, (top + h) / sy)
    x0, y0, x1, y1 = pixel_box(box, out_w, out_h)
    # one column more on the left and two on the right: the chroma upsampling at the region's edges sees the
    # neighbours a whole decode would (the pixels inside the box are then Pillow's to the bit)
    try:
        rows, x, y, rw, rh = _jpeg_region.decode(data, r, max(0, x0 - 1), y0, min(out_w, x1 + 2), y1)
    except ValueError:  # damaged within the region: Pillow decodes it (as before this decoder) or refuses it
        return None
    return Decoded(np.frombuffer(rows, np.uint8).reshape(rh, rw, 3), box, (x, y))  # writable: a bytearray's


def pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The whole pixels ``(left, top, right, bottom)`` that cover ``box`` (a reduced-size decode's box is
    fractional), within the image: the box to 1e-6 px (float noise) or wider, so never fewer pixels than the
    target when the box had at least that many (``reduction``'s guarantee)."""
    return (max(0, math.floor(box[0] + 1e-6)), max(0, math.floor(box[1] + 1e-6)),
            min(width, math.ceil(box[2] - 1e-6)), min(height, math.ceil(box[3] - 1e-6)))


def _decode(path: str, decoder: str, size: int | None, draw: Draw) -> Decoded:
    """The image (or, with the region decoder, its crop's region) decoded at the smallest scale the crop
    ``draw(width, height)`` allows for a ``size`` output (None: full scale)."""
    with open(path, "rb") as f:
        data = f.read()
    fast = None
    if decoder == "region" and data[:2] == JPEG_MAGIC and data.endswith(JPEG_END):
        fast = _region(data, size, draw)
    elif decoder == "simplejpeg" and data[:2] == JPEG_MAGIC:
        fast = _simplejpeg(data, size, draw)
    if fast is not None:
        return fast
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
    return Decoded(img, (left / sx, top / sy, (left + w) / sx, (top + h) / sy))


def decode_pixels(path: str, decoder: str, size: int | None, draw: Draw) -> Decoded:
    """``_decode`` with its pixels as a writable ``H x W x 3`` uint8 array (the training crops' input: no PIL
    image is made from an array, and Pillow's is copied out once)."""
    decoded = _decode(path, decoder, size, draw)
    if isinstance(decoded.pixels, np.ndarray):
        return decoded
    decoded.pixels.load()  # a draft or lazy open decodes here, so its errors are the decoder's (BadImage)
    return decoded._replace(pixels=np.array(decoded.pixels))


def decode_full(path: str, decoder: str) -> Image.Image:
    """The whole image as RGB (evaluation): the same decoders, no reduction."""
    pixels = _decode(path, decoder, None, lambda w, h: (0, 0, w, h)).pixels
    return Image.fromarray(pixels) if isinstance(pixels, np.ndarray) else pixels
