"""Layers shared by every network of the zoo, and the way an Inception module is written: branches as data.

A branch is ``conv_chain(in_channels, (out, kernel[, stride[, padding]]), ...)``; a module is ``Concat`` of
its branches. Parameter names (``conv``, ``bn``, ``branches.<i>.<j>``) are fixed here, so every family's
checkpoint rules (``checkpoint.py``) map reference keys onto the same few shapes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Union

import torch
from torch import nn

Kernel = Union[int, tuple[int, int]]
# (out_channels, kernel[, stride[, padding]]): stride 1 defaults to "same" padding, a stride > 1 to none
# ("VALID"), the TF-slim convention of every network here.
Layer = Union[tuple[int, Kernel], tuple[int, Kernel, int], tuple[int, Kernel, int, Kernel]]
# A named step of a network's body (``InceptionNet.features``): TF-slim / torchvision end-point names.
Stage = tuple[str, nn.Module]


class ConvNormAct(nn.Sequential):
    """Conv2d -> BatchNorm (optional) -> ReLU (optional): the one building block of the zoo.

    ``norm=False`` gives the BN-free form of the original GoogLeNet (the conv then carries a bias).
    Parameter names (``conv``, ``bn``) follow torchvision/timm so checkpoints map one-to-one.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Kernel,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        *,
        norm: bool = True,
        act: bool = True,
        bn_eps: float = 1e-3,
        groups: int = 1,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding,
            groups=groups, bias=(not norm) if bias is None else bias,
        )
        if norm:
            self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps)
        if act:
            self.act = nn.ReLU(inplace=True)

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels


# Builds one conv of a module: ``ConvNormAct`` itself, or a ``partial`` of it (e.g. without BatchNorm).
ConvLayer = Callable[..., ConvNormAct]


def concat_branches(x: torch.Tensor, branches: nn.ModuleList) -> torch.Tensor:
    """Run every branch of an Inception module on ``x`` and concatenate along channels."""
    return torch.cat([branch(x) for branch in branches], dim=1)


class Concat(nn.Module):
    """Parallel branches on one input, concatenated along channels: the Inception module itself."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return concat_branches(x, self.branches)


def conv_chain(in_channels: int, *layers: Layer) -> nn.Sequential:
    """A branch of an Inception module: ``ConvNormAct`` layers in sequence, each given as a ``Layer`` tuple."""
    chain = nn.Sequential()
    for out_channels, kernel, *rest in layers:
        stride = rest[0] if rest else 1
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        padding = rest[1] if len(rest) > 1 else ((kh // 2, kw // 2) if stride == 1 else 0)
        chain.append(ConvNormAct(in_channels, out_channels, kernel, stride=stride, padding=padding))
        in_channels = out_channels
    return chain


def pool_branch(in_channels: int, out_channels: int, count_include_pad: bool) -> nn.Sequential:
    """3x3/1 average pool -> 1x1 projection. TF's SAME pooling excludes the padding; torchvision's v3 counts it."""
    return nn.Sequential(
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=count_include_pad),
        ConvNormAct(in_channels, out_channels, 1),
    )


def separable_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    *,
    depth_multiplier: int = 1,
    act: bool = True,
    bn_eps: float = 1e-3,
) -> nn.Sequential:
    """Depthwise conv (``depth_multiplier`` filters per input channel) -> 1x1 pointwise conv -> BN (-> ReLU).

    No BN and no nonlinearity between the depthwise and the pointwise conv, as TF-slim's ``separable_conv2d``
    and Keras' ``SeparableConv2D`` (BN-Inception's stem, Xception's every conv but the first two).
    """
    mid = in_channels * depth_multiplier
    return nn.Sequential(
        ConvNormAct(in_channels, mid, kernel_size, stride=stride, padding=kernel_size // 2, groups=in_channels,
                    norm=False, act=False, bias=False),
        ConvNormAct(mid, out_channels, 1, act=act, bn_eps=bn_eps),
    )
