"""Train / eval transforms (torchvision.transforms.v2) and the multi-crop views of the papers' eval protocols.

Every pipeline takes a PIL image or a uint8 CHW tensor and ends with float, normalised tensors; the
multi-crop ones return a ``V x C x H x W`` stack whose softmax the classifier averages.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from contracts.errors import check_choice

# GoogLeNet's random resize methods (Going Deeper Sec.6): bilinear, area, nearest, cubic, equal odds.
# v2 has no "area" mode for resizes of arbitrary ratio; antialiased bilinear is what area filtering amounts to.
RANDOM_INTERPOLATIONS = (InterpolationMode.BILINEAR, InterpolationMode.NEAREST, InterpolationMode.BICUBIC)
EVAL_MODES = ("center", "10crop", "144crop")
# GoogLeNet 144-crop (Going Deeper Sec.7): shorter side 256/288/320/352 for a 224 input; scaled to other inputs.
GOOGLENET_SCALES = (256 / 224, 288 / 224, 320 / 224, 352 / 224)


def _to_float(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


def train_transform(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    hflip: bool = True,
    photometric: bool = True,
    random_interpolation: bool = True,
) -> v2.Compose:
    """GoogLeNet's patches (8-100% area, aspect 3/4-4/3), random resize method, photometric distortion, flips."""
    modes = RANDOM_INTERPOLATIONS if random_interpolation else (InterpolationMode.BILINEAR,)
    crops = [v2.RandomResizedCrop(size, scale=tuple(scale), ratio=tuple(ratio), interpolation=m, antialias=True) for m in modes]
    steps: list[v2.Transform] = [v2.ToImage(), v2.RandomChoice(crops) if len(crops) > 1 else crops[0]]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if photometric:  # the TF-slim ranges of Howard's distortions (brightness 32/255, contrast/saturation 0.5-1.5)
        steps.append(v2.ColorJitter(brightness=32 / 255, contrast=0.5, saturation=0.5, hue=0.2))
    return v2.Compose(steps + _to_float(mean, std)[1:])


def resize_size(size: int, crop_pct: float) -> int:
    """Shorter side before the centre crop: 224 / 0.875 = 256."""
    return int(round(size / crop_pct))


def eval_transform(
    size: int, mean: Sequence[float], std: Sequence[float], crop_pct: float = 0.875,
    interpolation: str = "bilinear", mode: str = "center",
) -> Callable[[object], torch.Tensor]:
    """Centre crop (one ``C x H x W`` view) or a ``V x C x H x W`` stack for ``10crop`` / ``144crop``."""
    check_choice("data.eval_mode", mode, EVAL_MODES)
    interp = InterpolationMode(interpolation)
    normalise = v2.Compose(_to_float(mean, std))
    if mode == "center":
        return v2.Compose([v2.Resize(resize_size(size, crop_pct), interpolation=interp, antialias=True),
                           v2.CenterCrop(size), normalise])
    if mode == "10crop":
        def ten(img: object) -> torch.Tensor:
            img = F.resize(v2.ToImage()(img), resize_size(size, crop_pct), interpolation=interp, antialias=True)
            return torch.stack([normalise(v) for v in F.ten_crop(img, size)])
        return ten
    return lambda img: torch.stack([normalise(v) for v in googlenet_144_views(v2.ToImage()(img), size, interp)])


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
