"""A test-only Inception-style net (stem, one aux head, classifier): trains in seconds on 16x16 inputs.

Tests select it with ``hydra.searchpath=[file://tests/conf]`` ``model=tiny_test``.
"""
from __future__ import annotations

import torch
from torch import nn

from lightning_modules.zoo.base import AuxHead, InceptionNet, ModelInfo
from lightning_modules.zoo.layers import ConvNormAct


class _Aux(AuxHead):
    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(x), 1))


class TinyInception(InceptionNet):
    info = ModelInfo(default_input_size=32, min_input_size=16, aux_loss_weight=0.3)

    def __init__(self, num_classes: int = 10, dropout: float = 0.0, aux_logits: bool = True, width: int = 8) -> None:
        super().__init__(num_classes, dropout, aux_logits)
        self.stem = ConvNormAct(3, width, 3, stride=2, padding=1)
        self.aux = _Aux(width, num_classes) if aux_logits else None
        self.body = ConvNormAct(width, 2 * width, 3, stride=2, padding=1)
        self.fc = nn.Linear(2 * width, num_classes)

    def _forward_body(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        aux = [self.aux(x)] if with_aux else []
        return self.body(x), aux


def tiny_net(name: str, num_classes: int, weights: str | None = None, **kwargs: object) -> TinyInception:
    return TinyInception(num_classes, **kwargs)
