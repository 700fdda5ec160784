"""A test-only Inception-style net (stem, one aux head, classifier): trains in seconds on 16x16 inputs.

Tests select it with ``hydra.searchpath=[file://tests/conf]`` ``model=tiny_test``.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from lightning_modules.zoo.base import InceptionNet, ModelInfo
from lightning_modules.zoo.heads import AuxHead
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
        stages = [
            ("stem", ConvNormAct(3, width, 3, stride=2, padding=1)),  # N x width x 8 x 8
            ("body", ConvNormAct(width, 2 * width, 3, stride=2, padding=1)),  # N x 2 width x 4 x 4
        ]
        super().__init__(stages, 2 * width, num_classes, dropout, aux_heads={"stem": partial(_Aux, width)},
                         aux_logits=aux_logits)
        # PyTorch's default init rather than the zoo's (He-normal convs, N(0, 0.01) linear): the pace of the
        # training tests (e.g. 2 epochs on MNIST) is set for it
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()


def tiny_net(name: str, num_classes: int, weights: str | None = None, **kwargs: object) -> TinyInception:
    return TinyInception(num_classes, **kwargs)
