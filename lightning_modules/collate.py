"""Loader collates: a batch's readable samples stacked (the unreadable ones passed on beside them), into the
memory it crosses the worker boundary in; with the batch step in the workers, that too (``BatchCollate``);
``data.decode=gpu``'s files packed into one buffer (``encoded_collate``)."""
from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import torch
from torch.utils.data import get_worker_info
from torch.utils.data._utils.collate import default_collate

from .batch_augment import BatchAugment
from .gpu_decode import Packed, pack
from .host_memory import HostPool
from .shared_slots import Slot, SlotPool


class BadImage(NamedTuple):
    """An image file that could not be decoded: what a loader worker hands back instead of the sample."""

    path: str
    reason: str


def split_bad(samples: list[Any]) -> tuple[list[Any], list[BadImage]]:
    """The readable samples and the unreadable ones (``BadImage``), each in loader order."""
    return [s for s in samples if not isinstance(s, BadImage)], [s for s in samples if isinstance(s, BadImage)]


SLOT_LIMIT = 128 << 20  # bytes: larger batches (multi-crop evaluation) cross the usual way
LOCAL_BATCHES = HostPool()  # batches that stay in their process (reused there; a forked worker has its own)


def stack_images(images: list[torch.Tensor]) -> torch.Tensor:
    """The images as one batch tensor: in a loader worker ``default_collate``'s (shared memory, which the batch
    crosses the process boundary in); in the main process (``num_workers=0``) on reused huge pages
    (``host_memory``), where a fresh tensor would be page-faulted in batch after batch."""
    if get_worker_info() is not None or not all(isinstance(i, torch.Tensor) for i in images):
        return default_collate(images)
    first = images[0]
    return torch.stack(images, out=LOCAL_BATCHES.empty((len(images), *first.shape), first.dtype))


class BatchCollate:
    """A loader's collate: the readable samples stacked, the unreadable ones (``BadImage``) passed on beside them.

    ``augment`` (``data.augment_on=workers``): the batch step (``BatchAugment``) runs here, in the worker, on the
    uint8 stack. ``slots``: the batch tensor is written into a shared slot of the loader's pool when one is free.
    """

    def __init__(self, augment: BatchAugment | None = None, train: bool = False, slots: SlotPool | None = None) -> None:
        self.augment, self.train, self.slots = augment, train, slots
        self._seeded_in = os.getpid()  # the process whose draws the generator makes (the main one made it)

    @classmethod
    def for_loader(cls, augment: BatchAugment | None, train: bool, workers: int, prefetch: int,
                   batch_shape: tuple[int, ...]) -> BatchCollate:
        """The collate of a loader of ``workers`` whose batches are ``batch_shape`` images: with shared slots sized
        for what crosses (normalised float with ``augment``, else uint8) when that is at most ``SLOT_LIMIT``."""
        nbytes = math.prod(batch_shape) * (4 if augment is not None else 1)
        return cls(augment, train, SlotPool.for_loader(workers, prefetch, nbytes) if nbytes <= SLOT_LIMIT else None)

    def _slot(self, shape: tuple[int, ...], dtype: torch.dtype) -> Slot | None:
        return self.slots.take(shape, dtype) if self.slots is not None else None

    def __call__(self, samples: list[Any]) -> tuple[torch.Tensor | Slot, torch.Tensor, list[BadImage]]:
        good, bad = split_bad(samples)
        if not good:
            return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.long), bad
        images, labels = [image for image, _ in good], default_collate([label for _, label in good])
        if not all(isinstance(i, torch.Tensor) for i in images):
            return default_collate(images), labels, bad
        shape, dtype = (len(images), *images[0].shape), images[0].dtype
        if self.augment is None:
            slot = self._slot(shape, dtype)
            if slot is None:
                return stack_images(images), labels, bad
            torch.stack(images, out=slot.tensor)
            return slot, labels, bad
        worker = get_worker_info()
        if worker is not None and self._seeded_in != os.getpid():  # a worker's own stream (its seed: the run's + its id)
            self.augment.reseed(worker.seed)
            self._seeded_in = os.getpid()
        stacked = torch.stack(images, out=LOCAL_BATCHES.empty(shape, dtype))  # stays in this process
        slot = self._slot(shape, torch.float32)
        out = slot.tensor if slot is not None else (torch.empty(shape).share_memory_() if worker else None)
        batch = self.augment(stacked, self.train, out=out)
        return (slot if slot is not None else batch), labels, bad


def encoded_collate(samples: list[Any]) -> tuple[Packed, torch.Tensor, list[BadImage]]:
    """``data.decode=gpu``: the files' bytes packed into one tensor (their lengths differ); decoded on the device."""
    good, bad = split_bad(samples)
    labels = torch.tensor([label for _, label in good], dtype=torch.long)
    return pack([data for data, _ in good]), labels, bad
