"""Train / eval transforms in the loader's workers, in uint8, and the multi-crop views of the papers' eval protocols.

Every pipeline takes a file path, a PIL image or a uint8 CHW tensor and ends with a uint8 tensor: a
``C x H x W`` image, or for the multi-crop protocols a ``V x C x H x W`` stack whose softmax the classifier
averages. Scaling to float, normalisation and the photometric distortion run on the whole batch on the
training device (``lightning_modules.batch_augment``): a uint8 batch crosses the worker's process boundary
and the host-to-device copy at a quarter of a float batch's bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from contracts.errors import check_choice

from .decode import Box, crop_box, decode_pixels, pixel_box

# GoogLeNet's random resize methods (Going Deeper Sec.6): bilinear, area, nearest, cubic, equal odds.
# Tensors have no "area" mode for resizes of arbitrary ratio; antialiased bilinear is what area filtering amounts
# to, so the draw is among the three below (antialiased bilinear and bicubic, as PIL's).
RANDOM_INTERPOLATIONS = (InterpolationMode.BILINEAR, InterpolationMode.NEAREST, InterpolationMode.BICUBIC)
EVAL_MODES = ("center", "10crop", "144crop")
# GoogLeNet 144-crop (Going Deeper Sec.7): shorter side 256/288/320/352 for a 224 input; scaled to other inputs.
GOOGLENET_SCALES = (256 / 224, 288 / 224, 320 / 224, 352 / 224)


def nearest_index(start: float, stop: float, size: int) -> torch.Tensor:
    """The source rows (or columns) of PIL's nearest resize of ``[start, stop)`` to ``size`` pixels, to the bit:
    ``floor(start + (i + 0.5) * scale)``, accumulated in float64 as PIL's ``ImagingScaleAffine`` does."""
    scale = (stop - start) / size
    steps = np.full(size, scale)
    steps[0] = start + scale * 0.5
    return torch.from_numpy(np.add.accumulate(steps).astype(np.intp))


def resized_crop_hwc(pixels: np.ndarray, box: Box, size: int, mode: InterpolationMode, flip: bool,
                     origin: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``C x size x size`` uint8 (contiguous) of the ``box`` (left, top, right, bottom) of ``H x W x 3`` pixels
    that start at ``origin`` (x, y) of the decoded image (a region decode's; the box is in the image's pixels).

    Nearest is PIL's own ``resize(box=...)`` (a row and a column gather, the flip a reversed column index);
    bilinear and bicubic are torch's antialiased uint8 resize (its AVX2 kernel, 2-4x PIL's speed here) of the
    crop (``pixel_box``): torchvision's ``resized_crop`` of the decoded tensor exactly, where PIL's
    ``resize(box=...)`` also read the pixels just outside the box at its edges.
    """
    height, width = pixels.shape[:2]
    x, y = origin
    image = torch.from_numpy(pixels)
    if mode == InterpolationMode.NEAREST:
        rows = nearest_index(box[1], box[3], size).sub_(y).clamp_(0, height - 1)
        cols = nearest_index(box[0], box[2], size).sub_(x).clamp_(0, width - 1)
        out = image.index_select(0, rows).index_select(1, cols.flip(0) if flip else cols)  # size x size x 3
        return torch.from_numpy(np.ascontiguousarray(out.numpy().transpose(2, 0, 1)))
    left, top, right, bottom = pixel_box(box, x + width, y + height)
    crop = image[top - y:bottom - y, left - x:right - x].permute(2, 0, 1).unsqueeze(0)  # channels-last: AVX2
    out = torch.nn.functional.interpolate(crop, size=(size, size), mode=mode.value, antialias=True,
                                          align_corners=False)[0]  # contiguous C x H x W
    return out.flip(-1) if flip else out


class TrainCrop:
    """GoogLeNet's patches (8-100% area, aspect 3/4-4/3), a random resize method and flips, in uint8.

    A file path is decoded here, at the reduced scale the crop allows and with the region decoder only the
    crop's region (``decode.decode_pixels``), to an array that ``resized_crop_hwc`` crops, resizes and flips; uint8 tensors (the in-memory sets, GPU-decoded JPEGs)
    take torchvision's ``resized_crop``. The photometric distortion is not
    here: ``batch_augment.BatchAugment`` applies it to the whole batch on the device.
    """

    def __init__(self, size: int, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3),
                 hflip: bool = True, random_interpolation: bool = True, decoder: str = "pil") -> None:
        self.size, self.scale, self.ratio, self.hflip, self.decoder = size, tuple(scale), tuple(ratio), hflip, decoder
        self.modes = RANDOM_INTERPOLATIONS if random_interpolation else (InterpolationMode.BILINEAR,)

    def _draw(self, width: int, height: int) -> tuple[int, int, int, int]:
        return crop_box(width, height, self.scale, self.ratio)

    def __call__(self, source: str | torch.Tensor) -> torch.Tensor:
        mode = self.modes[int(torch.randint(len(self.modes), (1,)))] if len(self.modes) > 1 else self.modes[0]
        flip = self.hflip and bool(torch.rand(1) < 0.5)
        if isinstance(source, torch.Tensor):  # C x H x W uint8
            left, top, w, h = self._draw(source.shape[-1], source.shape[-2])
            out = F.resized_crop(source, top, left, h, w, [self.size, self.size], interpolation=mode, antialias=True)
            return out.flip(-1) if flip else out
        pixels, box, origin = decode_pixels(source, self.decoder, self.size, self._draw)
        return resized_crop_hwc(pixels, box, self.size, mode, flip, origin)


def resize_size(size: int, crop_pct: float) -> int:
    """Shorter side before the centre crop: 224 / 0.875 = 256."""
    return int(round(size / crop_pct))


def eval_transform(size: int, crop_pct: float = 0.875, interpolation: str = "bilinear",
                   mode: str = "center") -> Callable[[object], torch.Tensor]:
    """Centre crop (one uint8 ``C x H x W`` view) or a ``V x C x H x W`` stack for ``10crop`` / ``144crop``."""
    check_choice("data.eval_mode", mode, EVAL_MODES)
    interp = InterpolationMode(interpolation)
    to_tensor = v2.ToImage()  # uint8, as the train crops: the device scales and normalises
    if mode == "center":
        return v2.Compose([v2.Resize(resize_size(size, crop_pct), interpolation=interp, antialias=True),
                           v2.CenterCrop(size), to_tensor])
    if mode == "10crop":
        def ten(img: object) -> torch.Tensor:
            img = F.resize(to_tensor(img), resize_size(size, crop_pct), interpolation=interp, antialias=True)
            return torch.stack(list(F.ten_crop(img, size)))
        return ten
    return lambda img: torch.stack(googlenet_144_views(to_tensor(img), size, interp))


def googlenet_144_views(img: torch.Tensor, size: int, interp: InterpolationMode = InterpolationMode.BILINEAR) -> list[torch.Tensor]:
    """4 scales x 3 squares x 6 crops (4 corners, centre, whole square resized) x 2 mirrors = 144 views."""
    views = []
    for factor in GOOGLENET_SCALES:
        scaled = F.resize(img, int(round(size * factor)), interpolation=interp, antialias=True)
        h, w = scaled.shape[-2:]
        side = min(h, w)
        # left/centre/right squares of a landscape image, top/centre/bottom of a portrait one
        offsets = [0, (max(h, w) - side) // 2, max(h, w) - side]
        for off in offsets:
            square = F.crop(scaled, off if h > w else 0, off if w >= h else 0, side, side)
            crops = list(F.five_crop(square, size)) + [F.resize(square, [size, size], interpolation=interp, antialias=True)]
            views += crops + [F.horizontal_flip(c) for c in crops]
    return views
