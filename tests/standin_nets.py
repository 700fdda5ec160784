"""Stand-in models for the serving tests: costs the tests can predict (memory per image, service time).

A job selects one with the test net's config and a target override, e.g.
``model=tiny_test model._target_=tests.standin_nets.memory_net +model.mib_per_image=40``.
"""
from __future__ import annotations

import torch
from torch import nn

from lightning_modules.zoo.base import ModelInfo


class MemoryNet(nn.Module):
    """Holds ``mib_per_image`` MiB of touched memory per image during its forward: its peak grows with batch."""

    info = ModelInfo(default_input_size=8, min_input_size=8)

    def __init__(self, mib_per_image: int, num_classes: int = 10) -> None:
        super().__init__()
        self.mib_per_image = mib_per_image
        self.fc = nn.Linear(3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scratch = torch.ones(x.shape[0] * self.mib_per_image * 2**20 // 4)  # ones: every page is touched
        return self.fc(x.mean(dim=(2, 3))) + scratch[0]


def memory_net(name: str, num_classes: int, mib_per_image: int = 40, **kwargs: object) -> MemoryNet:
    return MemoryNet(mib_per_image, num_classes)
