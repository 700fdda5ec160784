"""The seed documents' cost comparisons as benchmarkable models: one building block each, no classifier.

Each is registered (``model=<name>``), declares the input its document uses (``info.in_chans``,
``info.default_input_size``), rejects any other channel count or a smaller grid with a ValueError, and returns
the block's feature map. MACs: conv multiply-accumulates at the default input (FlopCounterMode FLOPs / 2).

=========================  ====================================  ==========================  =============
name                       block                                 input -> output             MACs
=========================  ====================================  ==========================  =============
inception_module_naive     GoogLeNet Fig. 2(a)                   28x28x192 -> 28x28x416      303,464,448
inception_module_reduced   GoogLeNet Fig. 2(b), widths of 3a     28x28x192 -> 28x28x256      128,049,152
block_conv5x5              one 5x5 conv (Rethinking Sec. 3.1)    35x35x192 -> 35x35x192    1,128,960,000
block_two_conv3x3          two 3x3 convs, same receptive field   35x35x192 -> 35x35x192      812,851,200
block_conv_nxn             one 7x7 conv (Rethinking Sec. 3.2)    17x17x192 -> 17x17x192      522,031,104
block_conv_1xn_nx1         1x7 then 7x1                          17x17x192 -> 17x17x192      149,151,744
grid_reduction_naive       3x3 conv to 2k, then 3x3/2 max pool   35x35x320 -> 17x17x640    2,257,920,000
grid_reduction_parallel    3x3/2 conv || 3x3/2 max pool          35x35x320 -> 17x17x640      266,342,400
=========================  ====================================  ==========================  =============

The GoogLeNet blocks follow the paper (conv biases, no BatchNorm; ``norm=True`` adds it), the Rethinking ones
use BatchNorm like every network of that paper.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps

import torch
from torch import nn

from .base import ModelInfo, validate_input
from .inception_modules import InceptionModule
from .layers import Concat, ConvNormAct, conv_chain
from .registry import register_model

__all__ = ["BlockModel"]


class BlockModel(nn.Module):
    """A building block as a model: validates its input against ``info`` and returns the block's feature map.

    Under autocast the input is cast to the autocast dtype first, as a block inside a mixed-precision network
    receives a previous conv's low-precision output: otherwise a pass-through branch (the pooled input of
    ``inception_module_naive`` and ``grid_reduction_parallel``) would stay float32 and turn the concatenation,
    and the output, into float32.
    """

    def __init__(self, name: str, block: nn.Module, info: ModelInfo) -> None:
        super().__init__()
        self.name = name
        self.block = block
        self.info = info

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate_input(x, self.info, self.name)
        device = x.device.type
        if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
            x = x.to(torch.get_autocast_dtype(device))
        return self.block(x)


def _block(name: str, info: ModelInfo) -> Callable[[Callable[..., nn.Module]], Callable[..., BlockModel]]:
    """Register a block factory under ``name``: the registered constructor wraps what it builds in a ``BlockModel``."""

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., BlockModel]:
        @wraps(factory)
        def constructor(**kwargs: object) -> BlockModel:
            return BlockModel(name, factory(**kwargs), info)

        return register_model(name, info)(constructor)

    return decorator


# Sources: seed 001 and GoogLeNet (Szegedy et al. 2014, arXiv:1409.4842) Sec. 4, Fig. 2 for the Inception modules
# on a 28x28x192 input; Rethinking the Inception Architecture (Szegedy et al. 2015, arXiv:1512.00567) for the
# others, section and figure in each docstring. Published figures: bench/reference.py (MODELS, SEED_PAIRS).


@_block("inception_module_naive", ModelInfo(28, 5, in_chans=192))
def inception_module_naive(norm: bool = False) -> nn.Module:
    """1x1 64 | 3x3 128 | 5x5 32 | 3x3 max pool, concatenated: 28x28x(64 + 128 + 32 + 192 = 416).

    Seed 001's arithmetic: the 5x5 branch alone costs (28 * 28 * 32) * (5 * 5 * 192) = 120,422,400 ~ 120M
    multiplies, and the pooled 192 channels pass through, so the output only grows from module to module.
    """
    return InceptionModule(192, 64, 0, 128, 0, 32, 0, conv=partial(ConvNormAct, norm=norm))


@_block("inception_module_reduced", ModelInfo(28, 5, in_chans=192))
def inception_module_reduced(norm: bool = False) -> nn.Module:
    """GoogLeNet's 3a: 1x1 64 | 1x1 96 -> 3x3 128 | 1x1 16 -> 5x5 32 | max pool -> 1x1 32: 28x28x256.

    GoogLeNet Table 1, inception (3a): 159K params (K = 1024: 163,328 weights), 128M ops.

    Seed 001's arithmetic: a 16-channel 1x1 reduction cuts the 5x5 branch to (28 * 28 * 16) * 192
    + (28 * 28 * 32) * (5 * 5 * 16) = 2,408,448 + 10,035,200 = 12,443,648 ~ 12.4M multiplies (about a tenth).
    """
    return InceptionModule(192, 64, 96, 128, 16, 32, 32, conv=partial(ConvNormAct, norm=norm))


@_block("block_conv5x5", ModelInfo(35, 5, in_chans=192))
def block_conv5x5() -> nn.Module:
    """A 5x5 conv, 192 -> 192 filters on the 35x35 grid: 25 / 9 = 2.78 times the cost of a 3x3 (Sec. 3.1)."""
    return conv_chain(192, (192, 5))


@_block("block_two_conv3x3", ModelInfo(35, 5, in_chans=192))
def block_two_conv3x3() -> nn.Module:
    """Two 3x3 convs (Fig. 1; ReLU after both, Sec. 3.1's better variant) in place of the 5x5, same receptive field.

    Sec. 3.1's arithmetic with equal widths: (9 + 9) / 25 of the cost, a 28% saving (812.9M vs 1129.0M MACs).
    """
    return conv_chain(192, (192, 3), (192, 3))


@_block("block_conv_nxn", ModelInfo(17, 7, in_chans=192))
def block_conv_nxn(n: int = 7) -> nn.Module:
    """An n x n conv, 192 -> 192 filters on the 17x17 grid (n = 7, as Sec. 3.2 uses on 17x17)."""
    return conv_chain(192, (192, n))


@_block("block_conv_1xn_nx1", ModelInfo(17, 7, in_chans=192))
def block_conv_1xn_nx1(n: int = 7) -> nn.Module:
    """A 1 x n conv then an n x 1 conv in place of the n x n (Fig. 6): (n + n) / n^2 of the cost, 2/7 for n = 7.

    Sec. 3.2 finds this works on medium grids (m x m with m between 12 and 20) but not early in the network.
    """
    return conv_chain(192, (192, (1, n)), (192, (n, 1)))


@_block("grid_reduction_naive", ModelInfo(35, 3, in_chans=320))
def grid_reduction_naive(pool_first: bool = False) -> nn.Module:
    """d x d x k -> d/2 x d/2 x 2k with one conv and one pool in sequence (Fig. 9; d = 35, k = 320).

    Conv first (Fig. 9 right, the default): a 3x3 conv to 2k filters on the full grid, then a 3x3/2 max pool:
    2 d^2 k^2 * 9 = 2,257,920,000 MACs. Pool first (Fig. 9 left, ``pool_first=True``): 2 (d/2)^2 k^2 * 9 =
    532,684,800 (17x17), about a quarter, but the pool squeezes the representation to 17x17x320 before the
    conv widens it: the bottleneck principle 1 of Sec. 2 forbids. (The caption says 3 times more expensive.)
    """
    conv = ConvNormAct(320, 640, 3, padding=1)
    pool = nn.MaxPool2d(3, stride=2)
    return nn.Sequential(pool, conv) if pool_first else nn.Sequential(conv, pool)


@_block("grid_reduction_parallel", ModelInfo(35, 3, in_chans=320))
def grid_reduction_parallel() -> nn.Module:
    """A 3x3/2 conv to k filters beside a 3x3/2 max pool, concatenated: 17x17x(320 + 320) (Fig. 10 right).

    (d/2)^2 k^2 * 9 = 266,342,400 MACs: an eighth of conv-then-pool, half of pool-then-conv, without the
    bottleneck. Inception-v2/v3's reductions (``ReductionA``, ``ReductionB``) are this with deeper conv towers.
    """
    return Concat(conv_chain(320, (320, 3, 2)), nn.MaxPool2d(3, stride=2))
