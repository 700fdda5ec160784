"""DataModules and transforms: multi-crop views, colour modes, unreadable images, missing paths."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from contracts.errors import ConfigError
from lightning_modules.data import BadImageError, ImageFolderDataModule, ImageNetDataModule, MNISTDataModule
from lightning_modules.transforms import eval_transform, googlenet_144_views
from tiny_net import TinyInception

INFO = TinyInception.info


@pytest.mark.parametrize("shape", [(3, 40, 60), (3, 60, 40)])  # landscape and portrait squares
def test_googlenet_144_crop_views(shape: tuple[int, int, int]) -> None:
    img = torch.randint(0, 256, shape, dtype=torch.uint8)
    views = googlenet_144_views(img, 16)
    assert len(views) == 4 * 3 * 6 * 2 and all(v.shape == (3, 16, 16) for v in views)
    assert torch.equal(views[6], views[0].flip(-1))  # the 7th view mirrors the 1st
    assert eval_transform(16, mode="144crop")(img).shape == (144, 3, 16, 16)
    assert eval_transform(16, mode="10crop")(img).shape == (10, 3, 16, 16)
    assert eval_transform(16)(img).shape == (3, 16, 16) and eval_transform(16)(img).dtype == torch.uint8


def test_mnist_is_three_channel_at_the_model_minimum(tmp_path: Path) -> None:
    dm = MNISTDataModule(num_classes=10, batch_size=8, input_size="min", model_info=INFO)
    dm.setup()
    x, y, bad = next(iter(dm.train_dataloader()))
    assert dm.size == 28 and x.shape == (8, 3, 28, 28) and bad == []  # max(min_input_size 16, native 28)
    assert (len(dm.train_set), len(dm.val_set)) == (4000, 1000)


def _folder(root: Path) -> Path:
    for split in ("train", "val"):
        for cls in ("a", "b"):
            d = root / split / cls
            d.mkdir(parents=True)
            Image.new("L", (20, 20), 128).save(d / "gray.png")
            Image.new("CMYK", (20, 20), (0, 50, 100, 0)).save(d / "cmyk.jpg")
            Image.new("RGBA", (20, 20), (1, 2, 3, 100)).save(d / "rgba.png")
    (root / "train" / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def _dm(root: Path, **kwargs: object) -> ImageFolderDataModule:
    return ImageFolderDataModule(root=str(root), num_classes=2, batch_size=16, input_size=16, model_info=INFO, **kwargs)


def test_colour_modes_become_rgb_and_unreadable_images_are_counted(tmp_path: Path) -> None:
    dm = _dm(_folder(tmp_path))
    dm.setup()
    x, y, bad = next(iter(dm.val_dataloader()))
    assert x.shape == (6, 3, 16, 16) and bad == []
    batch = next(iter(dm._loader(dm.train_set, shuffle=False)))
    assert batch[0].shape[0] == 6 and [b.path for b in batch[2]] == [str(tmp_path / "train" / "a" / "broken.jpg")]
    assert dm.on_before_batch_transfer(batch, 0) is batch  # skip: logged and counted, not fatal


@pytest.mark.parametrize("workers", [0, 1])
def test_unreadable_image_fails_naming_the_file_when_asked(tmp_path: Path, workers: int) -> None:
    dm = _dm(_folder(tmp_path), on_bad_image="fail", num_workers=workers)
    dm.setup()
    batch = next(iter(dm._loader(dm.train_set, shuffle=False)))  # from a worker process too: a value, not a traceback
    with pytest.raises(BadImageError, match="broken.jpg") as caught:
        dm.on_before_batch_transfer(batch, 0)
    assert caught.value.bad.path.endswith("broken.jpg") and caught.value.status == "error"


def test_missing_dataset_shows_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected .*/train/n01440764/"):
        ImageNetDataModule(root=str(tmp_path / "nowhere"), num_classes=1000, input_size=16, model_info=INFO).setup()


def test_imagenet_needs_its_1000_synsets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has 2 class folders, not the 1,000 of data=imagenet; use data=imagefolder"):
        ImageNetDataModule(root=str(_folder(tmp_path)), num_classes=1000, batch_size=4, input_size=16, model_info=INFO,
                           name="imagenet").setup()


def test_bad_options_name_the_valid_choices() -> None:
    for option, value in (("eval_mode", "5crop"), ("on_bad_image", "ignore"), ("input_size", "large")):
        with pytest.raises(ConfigError, match=rf"unknown data.{option}.*'{value}'; valid choices: "):
            MNISTDataModule(num_classes=10, model_info=INFO, **{option: value})


@pytest.mark.parametrize("decoder", ["pil", "auto"])  # auto: simplejpeg where installed, PIL for what it cannot take
def test_every_odd_image_decodes_or_is_counted_with_each_decoder(tmp_path: Path, decoder: str) -> None:
    for split in ("train", "val"):
        for cls in ("a", "b"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            Image.new("L", (30, 20), 90).save(d / "gray.jpg")                      # grey JPEG
            Image.new("CMYK", (20, 30), (0, 50, 100, 0)).save(d / "cmyk.jpg")       # CMYK JPEG: PIL's conversion
            Image.new("I;16", (20, 20), 40000).save(d / "deep.png")                 # 16-bit grey PNG
            Image.new("RGB", (1, 1), (9, 8, 7)).save(d / "tiny.jpg")                # 1 x 1: upsampled crop
            Image.new("P", (20, 20), 3).save(d / "palette.png")
    whole = tmp_path / "train" / "a" / "gray.jpg"
    (tmp_path / "train" / "b" / "truncated.jpg").write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    dm = _dm(tmp_path, decoder=decoder)
    dm.setup()
    for loader in (dm.val_dataloader(), dm._loader(dm.train_set, shuffle=False)):
        x, y, bad = dm.on_before_batch_transfer(next(iter(loader)), 0)
        assert x.dtype == torch.uint8 and x.shape[1:] == (3, 16, 16)
        assert x.shape[0] == 10 and [b.path for b in bad] in ([], [str(tmp_path / "train" / "b" / "truncated.jpg")])
    assert len(bad) == 1  # the train split's truncated file, counted
