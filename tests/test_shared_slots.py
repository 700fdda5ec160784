"""Loader batches in reused shared-memory slots, and the batch step in the workers (data.augment_on).

Real DataLoaders with forked workers throughout: every sample is a constant image of its index, so a batch's
contents say which samples it holds, and a slot overwritten while the main process still held it would show.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from lightning_modules.batch_augment import BatchAugment
from lightning_modules.collate import BatchCollate
from lightning_modules.data import ImageFolderDataModule
from lightning_modules.shared_slots import SlotPool

SIZE = 8
pytestmark = pytest.mark.skipif(SlotPool.for_loader(1, 1, 1) is None, reason="workers are not forked here")


class Indexed(Dataset):
    """Sample i: a 3 x 8 x 8 uint8 image filled with i % 256, label i."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.full((3, SIZE, SIZE), i % 256, dtype=torch.uint8), i


def loader(n: int, workers: int, pool: SlotPool | None, augment: BatchAugment | None = None, **options: Any) -> DataLoader:
    return DataLoader(Indexed(n), batch_size=4, num_workers=workers, prefetch_factor=2 if workers else None,
                      collate_fn=BatchCollate(augment, train=augment is not None, slots=pool), **options)


def check(batch: tuple[torch.Tensor, torch.Tensor, list]) -> None:
    images, labels, bad = batch
    assert not bad and images.shape == (len(labels), 3, SIZE, SIZE)
    assert torch.equal(images[:, 0, 0, 0].long(), labels % 256)
    assert all(bool((image == image.flatten()[0]).all()) for image in images)


def slot_addresses(pool: SlotPool) -> set[int]:
    return {torch.frombuffer(mapping, dtype=torch.uint8).data_ptr() for mapping in pool.mappings}


def test_batches_cross_in_reused_slots_and_a_held_batch_is_never_overwritten() -> None:
    pool = SlotPool(workers=2, slots=5, nbytes=4 * 3 * SIZE * SIZE)
    slots, held, copies, in_slots = slot_addresses(pool), [], [], 0
    for i, batch in enumerate(loader(4 * 40, 2, pool)):
        check(batch)
        in_slots += batch[0].data_ptr() in slots
        if i % 13 == 0:  # some batches kept alive for the rest of the pass (as a callback holding outputs might)
            held.append(batch[0])
            copies.append(batch[0].clone())
    assert in_slots >= 30  # 40 batches, most through the pool's 10 slots again and again
    assert all(torch.equal(a, b) for a, b in zip(held, copies, strict=True))  # nothing written over a held batch
    assert pool.counts()["held"] >= len(held)
    del held, batch
    assert pool.counts()["in_flight"] == 0


def test_a_worker_with_every_slot_held_sends_its_batches_the_usual_way() -> None:
    pool = SlotPool(workers=1, slots=2, nbytes=4 * 3 * SIZE * SIZE)
    batches = list(loader(4 * 12, 1, pool))  # all held at once: the third batch on find no free slot
    for batch in batches:
        check(batch)
    assert pool.counts()["held"] == 2
    assert sum(batch[0].data_ptr() in slot_addresses(pool) for batch in batches) == 2


def test_two_iterators_of_one_loader_both_get_their_own_batches() -> None:
    pool = SlotPool(workers=1, slots=4, nbytes=4 * 3 * SIZE * SIZE)
    data = loader(4 * 10, 1, pool, persistent_workers=False)
    first, second = iter(data), iter(data)  # two worker processes with id 0, alive at once
    for a, b in zip(first, second, strict=True):
        check(a)
        check(b)
        assert torch.equal(a[1], b[1])  # the same order: neither saw the other's batches
    later = list(data)  # a third iterator after both: its worker takes the slots over
    assert len(later) == 10 and all(check(batch) is None for batch in later)


def test_a_batch_too_large_for_its_slot_or_without_workers_is_the_usual_tensor() -> None:
    pool = SlotPool(workers=1, slots=2, nbytes=8)
    for batch in loader(8, 1, pool):
        check(batch)
    assert pool.counts() == {"free": 2, "in_flight": 0, "held": 0}
    for batch in loader(8, 0, SlotPool(workers=1, slots=2, nbytes=1 << 20)):  # the main process: its own memory
        check(batch)


def test_the_batch_step_in_the_workers_gives_each_worker_its_own_draws() -> None:
    augment = BatchAugment((0.0,) * 3, (1.0,) * 3, photometric=True, seed=3)
    pool = SlotPool(workers=2, slots=5, nbytes=4 * 3 * SIZE * SIZE * 4)
    constant = DataLoader([(torch.full((3, SIZE, SIZE), 128, dtype=torch.uint8), 0)] * 16, batch_size=4,
                          num_workers=2, collate_fn=BatchCollate(augment, train=True, slots=pool))
    batches = [images for images, _labels, _bad in constant]
    assert all(images.dtype == torch.float32 and images.shape == (4, 3, SIZE, SIZE) for images in batches)
    # the same grey image everywhere: brightness and contrast draws differ image to image and worker to worker
    means = torch.cat([images.mean((1, 2, 3)) for images in batches])
    assert len(set(means.tolist())) == 16
    assert not torch.equal(batches[0], batches[1])  # batch 0 from worker 0, batch 1 from worker 1


def test_a_cpu_run_with_workers_augments_in_the_workers(tmp_path) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (40, 36), (40 * i, 200, 90)).save(tmp_path / split / cls / f"{i}.jpg")
    options = dict(root=str(tmp_path), num_classes=2, batch_size=4, num_workers=1, input_size=32)
    module = ImageFolderDataModule(**options)
    module.target_device = torch.device("cpu")
    module.setup("fit")
    assert module.augments_in_workers()
    images, labels, bad = module.augment_batch(next(iter(module.train_dataloader())), train=True)
    assert images.dtype == torch.float32 and images.shape == (4, 3, 32, 32) and not bad
    val = module.augment_batch(next(iter(module.val_dataloader())), train=False)[0]
    assert val.dtype == torch.float32  # normalised in the workers too
    device_side = ImageFolderDataModule(**options, augment_on="device")
    device_side.target_device = torch.device("cpu")
    device_side.setup("fit")
    raw = next(iter(device_side.train_dataloader()))[0]
    assert raw.dtype == torch.uint8 and not device_side.augments_in_workers()
    assert device_side.augment_batch((raw, labels, []), train=True)[0].dtype == torch.float32
