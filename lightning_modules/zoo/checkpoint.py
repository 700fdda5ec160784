"""Load a state_dict saved from timm, torchvision or this project into a zoo model, safely and strictly.

The one mapping mechanism: a model lists ``checkpoint_rules()``, regex renames from a reference
implementation's keys to its own, applied in order to every key; rules match only foreign names, so this
project's own checkpoints pass through unchanged. Rules several families share live here.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

KeyRule = tuple[str, "str | Callable[[re.Match[str]], str]"]
# Every model keeps its aux heads in ``aux_heads`` (``InceptionNet``): their keys carry this prefix.
AUX_PREFIX = "aux_heads."


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the model: names the missing, unexpected and mis-shaped keys."""


def rename_keys(state_dict: dict[str, torch.Tensor], rules: Iterable[KeyRule]) -> dict[str, torch.Tensor]:
    """Apply ``(pattern, replacement)`` rules in order (``re.sub``) to every key of a reference checkpoint."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    renamed = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        renamed[key] = value
    return renamed


def branch_key(branch: int | str, position: int | str, side: str | None) -> str:
    """Our key infix for layer ``position`` of branch ``branch`` of a ``Concat``; ``side`` a / b picks the
    1x3 / 3x1 half of an ``expanded_1x3_3x1`` pair there."""
    return f".branches.{branch}.{position}." + (f"branches.{'ab'.index(side)}." if side else "")


# timm's ports of TF-slim Inception-v4 / Inception-ResNet-v2 (from Cadene's) name a module's branches branch<i>:
# a single ConvNormAct or a Sequential; Inception-v4's 8x8 module splits them as branch<i>_<j>[a|b].
TIMM_BRANCH_RULES: list[KeyRule] = [
    (r"\.branch(\d)\.(\d+)\.", r".branches.\1.\2."),
    (r"\.branch(\d)\.(conv|bn)\.", r".branches.\1.0.\2."),
    (r"\.branch(\d)_(\d)([ab]?)\.", lambda m: branch_key(m[1], m[2], m[3])),
]


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


def _check_keys(model: nn.Module, path: str | Path, state_dict: dict[str, torch.Tensor]) -> None:
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


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Rename keys with the model's ``checkpoint_rules()`` and load strictly, with a readable error on mismatch.

    Aux heads are the one tolerated difference. A model without aux heads ignores a checkpoint's. A checkpoint
    without aux-head weights (timm's inception_v3, torchvision's ``aux_logits=False``) fills everything else of
    a model with aux heads, whose heads keep their initialisation: one log line says so, and the model's
    ``aux_weights_loaded`` is False (True after every other load); ``drop_aux_heads()`` removes them.
    """
    rules = model.checkpoint_rules() if hasattr(model, "checkpoint_rules") else []
    state_dict = rename_keys(read_state_dict(path), rules)
    own = model.state_dict()
    own_aux = [k for k in own if k.startswith(AUX_PREFIX)]
    if not own_aux:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(AUX_PREFIX)}
    keep_aux = bool(own_aux) and not any(k.startswith(AUX_PREFIX) for k in state_dict)
    if keep_aux:
        state_dict = {**state_dict, **{k: own[k] for k in own_aux}}
    _check_keys(model, path, state_dict)
    model.load_state_dict(state_dict, strict=True)
    model.aux_weights_loaded = not keep_aux
    if keep_aux:
        heads = sorted({k[len(AUX_PREFIX):].split(".")[0] for k in own_aux})
        log.warning("checkpoint %s has no aux-head weights: loaded everything else; the aux heads on %s keep their "
                    "initialisation (drop_aux_heads() removes them)", path, ", ".join(heads))
