"""Load a state_dict saved from timm, torchvision or this project into a zoo model, safely and strictly."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the model: names the missing, unexpected and mis-shaped keys."""


KeyRule = tuple[str, "str | Callable[[re.Match[str]], str]"]


def rename_keys(state_dict: dict[str, torch.Tensor], rules: Iterable[KeyRule]) -> dict[str, torch.Tensor]:
    """Apply ``(pattern, replacement)`` rules in order (``re.sub``) to every key of a reference checkpoint."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    renamed = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        renamed[key] = value
    return renamed


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read tensors only (``weights_only=True``: no pickled code runs); unwrap Lightning / ``module.`` wrappers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ValueError(f"cannot read weights from {path} as a weights-only state_dict: {exc}") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state_dict of tensors")
    for prefix in ("module.", "net.", "model."):
        if obj and all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Map key names with ``model.remap_checkpoint`` and load strictly, with a readable error on mismatch."""
    state_dict = read_state_dict(path)
    remap = getattr(model, "remap_checkpoint", None)
    if remap is not None:
        state_dict = remap(state_dict)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mis_shaped = sorted(
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k].shape
    )
    if missing or unexpected or mis_shaped:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:10]) + (f" ... ({len(keys)} in all)" if len(keys) > 10 else "") or "none"

        raise CheckpointMismatchError(
            f"checkpoint {path} does not match {type(model).__name__}: "
            f"missing keys: {show(missing)}; unexpected keys: {show(unexpected)}; shape mismatches: {show(mis_shaped)}"
        )
    model.load_state_dict(state_dict, strict=True)
