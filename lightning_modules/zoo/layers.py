"""Layers shared by every network of the zoo."""
from __future__ import annotations

import torch
from torch import nn


class ConvNormAct(nn.Sequential):
    """Conv2d -> BatchNorm (optional) -> ReLU (optional): the one building block of the zoo.

    ``norm=False`` gives the BN-free form of the original GoogLeNet (the conv then carries a bias).
    Parameter names (``conv``, ``bn``) follow torchvision/timm so checkpoints map one-to-one.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
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


def concat_branches(x: torch.Tensor, branches: nn.ModuleList) -> torch.Tensor:
    """Run every branch of an Inception module on ``x`` and concatenate along channels."""
    return torch.cat([branch(x) for branch in branches], dim=1)
