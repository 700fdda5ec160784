"""Auxiliary classifiers: the heads a net taps on intermediate stages during training (``InceptionNet.aux_heads``).

GoogLeNet Sec. 5 introduced them to push gradient into the lower layers; Rethinking Sec. 4 found they act as
regularisers and kept one (Fig. 8). Every head ends in ``fc``, which ``InceptionNet.reset_classifier`` replaces.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvLayer, ConvNormAct

__all__ = ["AuxHead", "GoogLeNetAux", "InceptionAux"]


class AuxHead(nn.Module):
    """Marker base for auxiliary classifiers: each has a final ``fc`` that ``reset_classifier`` replaces."""

    fc: nn.Linear


class GoogLeNetAux(AuxHead):
    """Auxiliary classifier: 5x5/3 average pool -> 1x1 conv 128 -> FC 1024 + ReLU -> dropout -> FC.

    GoogLeNet Sec. 5 puts it on 4a and 4d (14x14 maps -> ``grid`` 4, dropout 0.7); Rethinking Sec. 4 and
    Fig. 8 keep one on the last 17x17 layer (``grid`` 5), and its "BN-auxiliary" batch-normalizes the FC layer
    too (``fc_norm``). The FC layer takes exactly ``128 * grid * grid`` inputs: at the paper's input size the
    paper's 5x5/3 pool gives that grid; at any other size (small datasets, other resolutions) the head pools
    adaptively to the same grid, as torchvision always does (``adaptive_pool``), so training still works.
    """

    def __init__(
        self,
        in_chs: int,
        num_classes: int,
        *,
        grid: int,
        conv: ConvLayer = ConvNormAct,
        adaptive_pool: bool = False,
        fc_norm: bool = False,
        dropout: float = 0.7,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.adaptive_pool = adaptive_pool
        self.pool = nn.AdaptiveAvgPool2d(grid) if adaptive_pool else nn.AvgPool2d(5, stride=3)
        self.conv = conv(in_chs, 128, 1)
        self.fc1 = nn.Linear(128 * grid * grid, 1024, bias=not fc_norm)
        self.norm = nn.BatchNorm1d(1024, eps=1e-3) if fc_norm else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paper_grid = not self.adaptive_pool and all((size - 5) // 3 + 1 == self.grid for size in x.shape[-2:])
        x = self.pool(x) if paper_grid or self.adaptive_pool else F.adaptive_avg_pool2d(x, self.grid)  # N x C x grid x grid
        x = torch.flatten(self.conv(x), 1)  # N x 128 * grid * grid
        x = self.drop(self.act(self.norm(self.fc1(x))))  # N x 1024
        return self.fc(x)  # N x num_classes


class InceptionAux(AuxHead):
    """The TF-slim auxiliary classifier on a 17x17 map (Rethinking Sec. 4, Fig. 8).

    5x5/3 average pool -> 1x1 conv 128 -> 5x5 conv 768 -> linear. Like TF-slim, torchvision and timm, a
    768-wide 5x5 convolution stands where Fig. 8 draws a fully connected layer of 1024. The 5x5 kernel needs
    the 17x17 map of a 299x299 input: smaller inputs must train with ``aux_logits=False``.
    """

    min_map_size = 17

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = ConvNormAct(in_channels, 128, 1)
        self.conv1 = ConvNormAct(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < self.min_map_size:
            raise ValueError(
                f"the aux head needs a {self.min_map_size}x{self.min_map_size} map (a 299x299 input), got "
                f"{x.shape[-2]}x{x.shape[-1]}: train smaller inputs with aux_logits=False"
            )
        x = F.avg_pool2d(x, kernel_size=5, stride=3)  # N x C x 5 x 5
        x = self.conv0(x)  # N x 128 x 5 x 5
        x = self.conv1(x)  # N x 768 x 1 x 1
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # N x 768
        return self.fc(x)  # N x num_classes
