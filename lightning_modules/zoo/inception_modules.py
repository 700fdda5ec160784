"""The Inception modules, grid reductions and stem that several families share.

* ``InceptionModule``: GoogLeNet's module (Szegedy et al., "Going deeper with convolutions",
  arXiv:1409.4842, Sec. 4, Fig. 2) with the options BN-Inception, Inception-v2 and the seed blocks use.
* The Inception-v3 pieces (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
  arXiv:1512.00567, in TF-slim's released layout): ``inception_stem``, ``InceptionA`` (35x35), ``InceptionC``
  (17x17), ``InceptionE`` (8x8), ``ReductionA`` / ``ReductionB``; Inception-v4 and Inception-ResNet reuse
  them with their own widths (Szegedy et al., arXiv:1602.07261).

Each module is its branches written as data (``conv_chain`` tuples, see ``layers.py``). Shapes: 299x299 input.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import Concat, ConvLayer, ConvNormAct, Stage, concat_branches, conv_chain, pool_branch

__all__ = [
    "InceptionModule", "InceptionA", "InceptionC", "InceptionE", "ReductionA", "ReductionB",
    "expanded_1x3_3x1", "inception_stem",
]


def _tower(
    in_chs: int, reduce: int, width: int, kernels: tuple[int, ...], conv: ConvLayer, stride: int
) -> nn.Sequential:
    """1x1 reduction (omitted when ``reduce`` is 0) -> ``width``-wide square convs, the last one strided."""
    layers = [conv(in_chs, reduce, 1)] if reduce else []
    chs = reduce or in_chs
    for i, k in enumerate(kernels):
        layers.append(conv(chs, width, k, stride=stride if i == len(kernels) - 1 else 1, padding=k // 2))
        chs = width
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" tower | 3x3 pool -> 1x1 projection, concatenated (GoogLeNet Sec. 4, Fig. 2).

    The width arguments are the columns of GoogLeNet Table 1 and of the BN paper's Figure 5. A width of 0
    omits the layer: ``ch1x1=0`` drops the 1x1 branch (BN-Inception 3c, 4e); zero reductions give the naive
    module of Fig. 2(a); ``pool_proj=0`` passes the pooled input through.

    Args:
        conv: builds each conv (``ConvNormAct`` with or without BatchNorm).
        tower_kernels: the convs of the third branch, all ``ch5x5`` wide: ``(5,)`` in the paper, ``(3,)`` in
            torchvision / TF-slim, ``(3, 3)`` where BN-Inception and Rethinking Fig. 5 replace each 5x5 by two 3x3.
        pool: ``"max"`` or ``"avg"`` (the BN paper's "avg+32", "max+pass through").
        stride: 2 makes the last conv of the two towers and the pool stride 2 (BN-Inception 3c, 4e).
        count_include_pad: average pools divide by the padded window (PyTorch / torchvision) or by the
            valid part only (TF's SAME pooling).
    """

    def __init__(
        self,
        in_chs: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        conv: ConvLayer = ConvNormAct,
        tower_kernels: tuple[int, ...] = (5,),
        pool: str = "max",
        stride: int = 1,
        count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        if pool == "max":
            pool_layer: nn.Module = nn.MaxPool2d(3, stride=stride, padding=1)
        elif pool == "avg":
            pool_layer = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=count_include_pad)
        else:
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        branches = [conv(in_chs, ch1x1, 1)] if ch1x1 else []
        branches += [
            _tower(in_chs, ch3x3red, ch3x3, (3,), conv, stride),
            _tower(in_chs, ch5x5red, ch5x5, tower_kernels, conv, stride),
            nn.Sequential(pool_layer, conv(in_chs, pool_proj, 1)) if pool_proj else pool_layer,
        ]
        self.branches = nn.ModuleList(branches)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + (pool_proj or in_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return concat_branches(x, self.branches)


def inception_stem(in_chans: int) -> list[Stage]:
    """The stem Inception-v3, TF-slim Inception-ResNet-v2 and Inception-ResNet-v1 (v4 paper Fig. 14) share.

    Inception-v4 (Fig. 3) shares its first three convolutions, Inception-v2 (Rethinking Table 1) its first four rows.
    """
    return [
        ("Conv2d_1a_3x3", ConvNormAct(in_chans, 32, 3, stride=2)),  # N x 32 x 149 x 149
        ("Conv2d_2a_3x3", ConvNormAct(32, 32, 3)),  # N x 32 x 147 x 147
        ("Conv2d_2b_3x3", ConvNormAct(32, 64, 3, padding=1)),  # N x 64 x 147 x 147
        ("MaxPool_3a_3x3", nn.MaxPool2d(3, stride=2)),  # N x 64 x 73 x 73
        ("Conv2d_3b_1x1", ConvNormAct(64, 80, 1)),  # N x 80 x 73 x 73
        ("Conv2d_4a_3x3", ConvNormAct(80, 192, 3)),  # N x 192 x 71 x 71
    ]


def expanded_1x3_3x1(in_channels: int, out_channels: int) -> Concat:
    """1x3 and 3x1 side by side on one input: the expanded filter bank of Rethinking Fig. 7 (v4 Fig. 6 too)."""
    return Concat(
        ConvNormAct(in_channels, out_channels, (1, 3), padding=(0, 1)),
        ConvNormAct(in_channels, out_channels, (3, 1), padding=(1, 0)),
    )


class InceptionA(Concat):
    """35x35 module as released (TF-slim Mixed_5b-5d): Rethinking Fig. 5 plus a 1x1 -> 5x5 branch.

    Inception-ResNet-v2 (TF-slim) uses it as ``Mixed_5b`` with a 96-wide 1x1 branch.
    """

    def __init__(
        self, in_channels: int, pool_features: int, width_1x1: int = 64, count_include_pad: bool = True,
    ) -> None:
        super().__init__(
            conv_chain(in_channels, (width_1x1, 1)),
            conv_chain(in_channels, (48, 1), (64, 5)),
            conv_chain(in_channels, (64, 1), (96, 3), (96, 3)),
            pool_branch(in_channels, pool_features, count_include_pad),
        )  # N x (width_1x1 + 160 + pool_features) x 35 x 35


class ReductionA(Concat):
    """Grid reduction of Inception-v4 Fig. 7 with filter counts (k, l, m, n); outputs ``in + m + n`` channels.

    Inception-v3's Mixed_6a is this module with (64, 96, 96, 384), Inception-v4's has (192, 224, 256, 384),
    Inception-ResNet-v1's (192, 192, 256, 384) and TF-slim Inception-ResNet-v2's Mixed_6a (256, 256, 384, 384).
    """

    def __init__(self, in_channels: int, k: int, l: int, m: int, n: int) -> None:  # noqa: E741 (paper's names)
        super().__init__(
            conv_chain(in_channels, (n, 3, 2)),
            conv_chain(in_channels, (k, 1), (l, 3), (m, 3, 2)),
            nn.MaxPool2d(3, stride=2),
        )  # N x (in + m + n) x 17 x 17


class InceptionC(Concat):
    """17x17 module with 7x7 convolutions factorized into 1x7 and 7x1 (Rethinking Fig. 6).

    ``b1`` and ``b2`` are the widths along the single and double factorized branches. Inception-v3's
    Mixed_6b-6e use (192, (c7, c7, 192), (c7, c7, c7, c7, 192), 192); Inception-v4's Inception-B (Fig. 5)
    is the same module with (384, (192, 224, 256), (192, 192, 224, 224, 256), 128).
    """

    def __init__(
        self,
        in_channels: int,
        b0: int,
        b1: tuple[int, int, int],
        b2: tuple[int, int, int, int, int],
        pool_features: int,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(
            conv_chain(in_channels, (b0, 1)),
            conv_chain(in_channels, (b1[0], 1), (b1[1], (1, 7)), (b1[2], (7, 1))),
            conv_chain(in_channels, (b2[0], 1), (b2[1], (7, 1)), (b2[2], (1, 7)), (b2[3], (7, 1)), (b2[4], (1, 7))),
            pool_branch(in_channels, pool_features, count_include_pad),
        )  # N x (b0 + b1[2] + b2[4] + pool_features) x 17 x 17


class ReductionB(Concat):
    """17x17 -> 8x8 reduction: 1x1 -> 3x3/2 || 1x1 -> 1x7 -> 7x1 -> 3x3/2 || max pool.

    Inception-v3's Mixed_7a has widths ((192, 320), (192, 192, 192, 192)); Inception-v4's Reduction-B
    (Fig. 8) ((192, 192), (256, 256, 320, 320)).
    """

    def __init__(self, in_channels: int, b0: tuple[int, int], b1: tuple[int, int, int, int]) -> None:
        super().__init__(
            conv_chain(in_channels, (b0[0], 1), (b0[1], 3, 2)),
            conv_chain(in_channels, (b1[0], 1), (b1[1], (1, 7)), (b1[2], (7, 1)), (b1[3], 3, 2)),
            nn.MaxPool2d(3, stride=2),
        )  # N x (in + b0[1] + b1[3]) x 8 x 8


class InceptionE(Concat):
    """8x8 module with expanded filter-bank outputs (Rethinking Fig. 7; TF-slim Mixed_7b, 7c): 2048 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            conv_chain(in_channels, (320, 1)),
            conv_chain(in_channels, (384, 1)).append(expanded_1x3_3x1(384, 384)),
            conv_chain(in_channels, (448, 1), (384, 3)).append(expanded_1x3_3x1(384, 384)),
            pool_branch(in_channels, 192, count_include_pad=True),
        )  # N x 2048 x 8 x 8
