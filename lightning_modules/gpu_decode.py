"""``data.decode=gpu``: the workers only read the files; torchvision's ``decode_jpeg`` decodes a whole batch on
CUDA (nvJPEG), then each image takes its crop / resize / flip there as a uint8 tensor.

A worker sends a batch's files packed into one byte tensor (``Packed``): every tensor a worker sends costs a
shared-memory file descriptor until the main process frees it, and one tensor per file (12 workers x 2 batches
in flight x 128 files) ran past the descriptor limit on a GPU node — the worker's feeder thread failed with
EBADF and the loader waited forever.

Files nvJPEG cannot take (PNG, CMYK JPEGs, ...) are decoded by torchvision on the CPU and moved; a file
neither can decode is an unreadable image like any other (``BadImage``, skipped and counted or fatal).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torchvision
from torchvision.io import ImageReadMode

JPEG_MAGIC = b"\xff\xd8"


class Encoded(NamedTuple):
    """A file's undecoded bytes (1-D uint8 tensor) and its path, to name it if it turns out unreadable."""

    path: str
    data: torch.Tensor


class Packed(NamedTuple):
    """A batch's files as they cross the worker boundary: their bytes end to end, each one's length, their paths."""

    data: torch.Tensor     # 1-D uint8, the files concatenated
    lengths: torch.Tensor  # 1-D int64, one per file
    paths: list[str]


def read_file(path: str) -> Encoded:
    return Encoded(path, torchvision.io.read_file(path))


def pack(files: list[Encoded]) -> Packed:
    data = torch.cat([f.data for f in files]) if files else torch.empty(0, dtype=torch.uint8)
    return Packed(data, torch.tensor([len(f.data) for f in files], dtype=torch.long), [f.path for f in files])


def unpack(packed: Packed) -> list[Encoded]:
    """The files again, each a view of the one received buffer (no copy)."""
    views = torch.split(packed.data, packed.lengths.tolist())
    return [Encoded(path, view) for path, view in zip(packed.paths, views, strict=True)]


def _decode_one(item: Encoded, device: torch.device) -> torch.Tensor:
    if bytes(item.data[:2].tolist()) == JPEG_MAGIC:
        try:
            return torchvision.io.decode_jpeg(item.data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # nvJPEG refuses some JPEGs (CMYK, arithmetic coding): the CPU decoder takes them
            pass
    return torchvision.io.decode_image(item.data, mode=ImageReadMode.RGB).to(device, non_blocking=True)


def decode_on_device(files: list[Encoded], device: torch.device, transform: Callable[[torch.Tensor], torch.Tensor]
                     ) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
    """(uint8 ``N x C x H x W`` on ``device``, indices of the files kept, (path, reason) of those that failed)."""
    try:  # the fast path: one batched nvJPEG call for the whole batch
        images = torchvision.io.decode_jpeg([f.data for f in files], mode=ImageReadMode.RGB, device=device)
        kept, failed = list(range(len(files))), []
    except RuntimeError:  # some file of the batch is no plain JPEG: one at a time, to keep the others
        images, kept, failed = [], [], []
        for i, item in enumerate(files):
            try:
                images.append(_decode_one(item, device))
                kept.append(i)
            except RuntimeError as exc:
                failed.append((item.path, str(exc)))
    if not images:
        return torch.empty(0, dtype=torch.uint8, device=device), kept, failed
    return torch.stack([transform(image) for image in images]), kept, failed
