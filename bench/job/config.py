"""The job's config before any work: values still missing, values the config computes (``class_folders``), and
the schema's checks (``contracts.config.validate``).

A value left ``???``, one that cannot be resolved or one the schema refuses ends the job with one line naming
the key and what is valid (``errors.config_error_from``), never an OmegaConf traceback.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from contracts.config import validate
from contracts.errors import ConfigError


def class_folders(path: str, _node_: Any) -> int:
    """``${class_folders:<dir>}``: the number of class folders in ``dir`` (torchvision's ``ImageFolder`` rule)."""
    key = _node_._get_full_key(None)
    folder = Path(path).expanduser()
    count = sum(1 for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else 0
    if not count:
        raise ConfigError(f"{key}: no class folders to count in {folder}; point data.root at the dataset "
                          f"(<root>/<train_dir>/<class>/...) or give {key}=<number of classes>")
    return count


if not OmegaConf.has_resolver("class_folders"):
    OmegaConf.register_new_resolver("class_folders", class_folders)


def missing_keys(node: DictConfig | ListConfig, prefix: str = "") -> Iterator[str]:
    """Full keys of the values still ``???`` (interpolations are not followed: their target is reported itself)."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        full = f"{prefix}{key}" if isinstance(node, DictConfig) else f"{prefix.rstrip('.')}[{key}]"
        if OmegaConf.is_missing(node, key):
            yield full
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node[key], (DictConfig, ListConfig)):
            yield from missing_keys(node[key], f"{full}.")


def check_config(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` for the first value still missing; resolve every interpolation (its errors surface
    here); then the schema's checks of every typed section."""
    for key in missing_keys(cfg):
        raise ConfigError(f"{key} has no value (it is ??? in the config); set it on the command line: {key}=...")
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)
