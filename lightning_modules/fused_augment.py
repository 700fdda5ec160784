"""The CPU batch step as one compiled loop (numba): uint8 → float, the photometric distortion, normalisation.

The same arithmetic as ``batch_augment``'s torch operations (``brightness_``, ``contrast_``, ``saturation_``,
``hue``: torchvision's float formulas, clamped after each), in float32, but fused: eager torch makes some fifty
passes over each image's planes (each 357 kB at 299 px, out of L1), this makes two, row by row, every step of
a row in L1 while the row is there. The only break is contrast, which needs the image's mean luma as the
steps before it leave it: the first pass runs the steps before contrast and sums the luma, the second the
rest and the normalisation. Measured on one core of the 2-core AMD EPYC VM (``tools.pipeline_bench --steps``,
docs/pipeline.md): 0.15 ms per 299 px image against the torch path's 0.79, normalise-only 0.054 against 0.095.

numba is optional (``pip install -e ".[fast]"``); ``data.augment_kernel=auto`` takes it when it imports and
the batch is on a CPU. It compiles once per machine (a few seconds; cached next to this file, or under
``NUMBA_CACHE_DIR``) and needs no C compiler at run time (LLVM comes in its wheel).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

F32 = np.float32
GRAY = tuple(F32(w) for w in (0.2989, 0.587, 0.114))  # batch_augment.GRAY, as float32


try:
    from numba import njit
except ImportError:  # optional: data.augment_kernel=auto falls back to the torch operations
    njit = None

ONE, ZERO, TWO, FOUR, SIX, U8 = (F32(v) for v in (1, 0, 2, 4, 6, 255))


def available() -> bool:
    """Whether numba imports here."""
    return njit is not None


def _compiled(fn: Any, **options: Any) -> Any:
    return njit(cache=True, nogil=True, **options)(fn) if njit is not None else fn


def _hexcone(high: Any, chroma: Any, k: Any) -> Any:
    # HSV -> RGB of one channel: v - c * clamp(min(k, 4 - k), 0, 1), k folded into [0, 6) once (as in ``hue``)
    k = (k - SIX) if k >= SIX else k
    return high - chroma * min(max(min(k, FOUR - k), ZERO), ONE)


_hexcone = _compiled(_hexcone, inline="always")


def _step(r: Any, g: Any, b: Any, op: int, f: Any, mean: Any) -> None:
    """Operation ``op`` (0 brightness, 1 contrast, 2 saturation, 3 hue) on one row's three planes."""
    if op == 0:
        for x in range(r.shape[0]):
            r[x] = min(max(r[x] * f, ZERO), ONE)
            g[x] = min(max(g[x] * f, ZERO), ONE)
            b[x] = min(max(b[x] * f, ZERO), ONE)
    elif op == 1:
        m = mean * (ONE - f)
        for x in range(r.shape[0]):
            r[x] = min(max(r[x] * f + m, ZERO), ONE)
            g[x] = min(max(g[x] * f + m, ZERO), ONE)
            b[x] = min(max(b[x] * f + m, ZERO), ONE)
    elif op == 2:
        q = ONE - f
        for x in range(r.shape[0]):
            gray = (r[x] * GRAY[0] + g[x] * GRAY[1] + b[x] * GRAY[2]) * q
            r[x] = min(max(r[x] * f + gray, ZERO), ONE)
            g[x] = min(max(g[x] * f + gray, ZERO), ONE)
            b[x] = min(max(b[x] * f + gray, ZERO), ONE)
    else:
        turn = SIX * f
        for x in range(r.shape[0]):
            red, green, blue = r[x], g[x], b[x]
            high = max(max(red, green), blue)
            chroma = high - min(min(red, green), blue)
            is_r = high == red
            is_g = (high == green) and not is_r
            numerator = (green - blue) if is_r else ((blue - red) if is_g else (red - green))
            offset = ZERO if is_r else (TWO if is_g else FOUR)
            sixths = numerator / (chroma if chroma > ZERO else ONE) + offset + turn
            r[x] = _hexcone(high, chroma, sixths + F32(5))
            g[x] = _hexcone(high, chroma, sixths + F32(3))
            b[x] = _hexcone(high, chroma, sixths + ONE)


_step = _compiled(_step, inline="always")


def _batch(images: Any, orders: Any, factors: Any, photometric: bool, scale: Any, shift: Any, out: Any) -> None:
    n, _, h, w = images.shape
    column_luma = np.zeros(w, np.float32)  # per-column sums: independent lanes, so the sum vectorises
    for i in range(n):
        src, dst = images[i], out[i]
        if not photometric:
            for c in range(3):
                s, t = scale[c] / U8, shift[c]
                for y in range(h):
                    a, o = src[c, y], dst[c, y]
                    for x in range(w):
                        o[x] = F32(a[x]) * s + t
            continue
        split = 0  # the steps before contrast run in the first pass
        while orders[i, split] != 1:
            split += 1
        column_luma[:] = ZERO
        for y in range(h):
            r, g, b = dst[0, y], dst[1, y], dst[2, y]
            sr, sg, sb = src[0, y], src[1, y], src[2, y]
            for x in range(w):
                r[x] = F32(sr[x]) / U8
                g[x] = F32(sg[x]) / U8
                b[x] = F32(sb[x]) / U8
            for s in range(split):
                _step(r, g, b, orders[i, s], factors[i, orders[i, s]], ZERO)
            for x in range(w):
                column_luma[x] += r[x] * GRAY[0] + g[x] * GRAY[1] + b[x] * GRAY[2]
        total = 0.0
        for x in range(w):
            total += column_luma[x]
        mean = F32(total / (h * w))
        for y in range(h):
            r, g, b = dst[0, y], dst[1, y], dst[2, y]
            for s in range(split, 4):
                _step(r, g, b, orders[i, s], factors[i, orders[i, s]], mean)
            for x in range(w):
                r[x] = r[x] * scale[0] + shift[0]
                g[x] = g[x] * scale[1] + shift[1]
                b[x] = b[x] * scale[2] + shift[2]


_batch = _compiled(_batch)


def warm() -> None:
    """Compile the kernel for both of its uses (or load them from the cache) on a one-pixel batch, once a process."""
    global _warm
    if not _warm:
        pixel, out = torch.zeros(1, 3, 1, 1, dtype=torch.uint8), torch.empty(1, 3, 1, 1)
        augment(pixel, out, (1.0,) * 3, (0.0,) * 3)
        augment(pixel, out, (1.0,) * 3, (0.0,) * 3, torch.tensor([[0, 1, 2, 3]]), torch.ones(1, 4))
        _warm = True


_warm = False


def augment(images: torch.Tensor, out: torch.Tensor, scale: Sequence[float], shift: Sequence[float],
            order: torch.Tensor | None = None, factors: torch.Tensor | None = None) -> torch.Tensor:
    """``out`` (float32 ``N x 3 x H x W``, contiguous) = normalised ``images`` (uint8, contiguous, CPU), with
    each image's photometric steps (``order`` N x 4, ``factors`` N x 4: ``batch_augment.Jitter``) when given.

    ``scale`` / ``shift`` normalise x in [0, 1]: (x - mean) / std = x * scale + shift.
    """
    photometric = order is not None
    n = len(images)
    _batch(images.numpy(), order.numpy() if photometric else np.zeros((n, 4), np.int64),
             factors.numpy() if photometric else np.zeros((n, 4), F32), photometric,
             np.asarray(scale, F32), np.asarray(shift, F32), out.numpy())
    return out
