"""The uniform API every classifier of the zoo shares, and the facts each declares about itself."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelInfo:
    """What a model declares about its input, its evaluation transform and its paper.

    ``paper`` holds the published figures a report puts beside measured ones
    (keys: ``top1``, ``top5`` single-crop accuracy in %, ``params``, ``gmacs``, ``source``).
    """

    default_input_size: int
    min_input_size: int
    in_chans: int = 3
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    aux_loss_weight: float = 0.0
    paper: dict[str, Any] = field(default_factory=dict)


def validate_input(x: torch.Tensor, info: ModelInfo, name: str) -> None:
    """Raise a ValueError naming ``name`` unless ``x`` is N x in_chans x H x W with H, W >= min_input_size."""
    if x.dim() != 4 or x.shape[1] != info.in_chans:
        raise ValueError(f"{name} expects N x {info.in_chans} x H x W input, got {tuple(x.shape)}")
    if min(x.shape[-2:]) < info.min_input_size:
        raise ValueError(
            f"{name} needs inputs of at least {info.min_input_size}x{info.min_input_size}, "
            f"got {x.shape[-2]}x{x.shape[-1]}"
        )


class AuxHead(nn.Module):
    """Marker base for auxiliary classifiers: each has a final ``fc`` that ``reset_classifier`` replaces."""

    fc: nn.Linear


class InceptionNet(nn.Module):
    """Base class: logits in eval; ``(logits, aux_logits)`` in training when aux heads are on.

    Subclasses build ``self.fc`` (the classifier), optional ``AuxHead`` modules, and implement
    ``_forward_body(x, with_aux) -> (feature map, [aux logits])``.
    """

    info: ClassVar[ModelInfo]

    def __init__(self, num_classes: int, dropout: float, aux_logits: bool, transform_input: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(dropout)

    def _forward_body(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def check_input(self, x: torch.Tensor) -> None:
        validate_input(x, self.info, type(self).__name__)

    def _apply_transform_input(self, x: torch.Tensor) -> torch.Tensor:
        """Map ImageNet-mean/std-normalised input to the (x - 0.5) / 0.5 scale of TF-ported weights (torchvision)."""
        if not self.transform_input:
            return x
        channels = [
            x[:, c : c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5 for c in range(3)
        ]
        return torch.cat(channels, dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward_body(self._apply_transform_input(x), with_aux=False)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)  # N x C
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        self.check_input(x)
        with_aux = self.training and self.aux_logits
        features, aux = self._forward_body(self._apply_transform_input(x), with_aux)
        logits = self.forward_head(features)
        return (logits, tuple(aux)) if with_aux else logits

    def get_classifier(self) -> nn.Linear:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier and every aux head's classifier with fresh ``num_classes``-way layers."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.fc.in_features, num_classes)
        for head in self.modules():
            if isinstance(head, AuxHead):
                head.fc = nn.Linear(head.fc.in_features, num_classes)

    def remap_checkpoint(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename a reference implementation's keys (timm / torchvision) to this model's; identity by default."""
        return state_dict
