"""Xception: Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", arXiv:1610.02357.

The network of Fig. 5 as implemented by Keras and timm (``legacy_xception``, whose weights are the Keras
ones): 36 convolutions in 14 modules, entry flow -> 8x middle flow -> exit flow, residual connections
around all modules but the first and the last.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from .base import INCEPTION_MEAN, INCEPTION_STD, InceptionNet, ModelInfo
from .checkpoint import KeyRule
from .layers import ConvNormAct, separable_conv
from .registry import register_model

__all__ = ["Xception"]


class XceptionBlock(nn.Module):
    """One module of Fig. 5: (ReLU -> SeparableConv -> BN) x ``reps`` [-> 3x3/2 max pool] + residual.

    The residual is the input, or a strided 1x1 conv + BN where the shape changes. ``grow_first=False``
    widens on the last separable conv instead of the first (the exit flow's module).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        reps: int,
        stride: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        widths = [out_channels] * reps if grow_first else [in_channels] * (reps - 1) + [out_channels]
        # Not in place: the residual needs the block's input as it came.
        self.pre_act = nn.ReLU() if start_with_relu else nn.Identity()
        self.rep = nn.Sequential(*(
            separable_conv(c_in, c_out, act=i < reps - 1, bn_eps=bn_eps)
            for i, (c_in, c_out) in enumerate(zip([in_channels, *widths[:-1]], widths))
        ))
        if stride > 1:
            self.rep.append(nn.MaxPool2d(3, stride=stride, padding=1))
        if in_channels != out_channels or stride > 1:
            self.skip = ConvNormAct(in_channels, out_channels, 1, stride=stride, act=False, bn_eps=bn_eps)
        else:
            self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rep(self.pre_act(x))
        out += self.skip(x)  # in place on a fresh BN / pool output, which no backward needs
        return out


@register_model("xception")
class Xception(InceptionNet):
    """Xception (Fig. 5), equal to Keras ``Xception`` and timm ``legacy_xception``; no aux head (Sec. 4.3).

    As in timm: max pools pad symmetrically (Keras' SAME pads only bottom/right on even sizes) and BN uses
    eps 1e-5 (Keras 1e-3, ``bn_eps``), so timm's weights reproduce timm's outputs.

    Args:
        num_classes: classifier outputs.
        dropout: before the classifier (0.5 on ImageNet, Sec. 4.3).
        bn_eps: BatchNorm epsilon (1e-5 timm, 1e-3 Keras).
    """

    info = ModelInfo(
        default_input_size=299,
        min_input_size=71,  # Keras' minimum
        crop_pct=0.8975,  # timm's evaluation of the Keras weights
        interpolation="bicubic",
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
    )

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, bn_eps: float = 1e-5) -> None:
        eps = {"bn_eps": bn_eps}
        stages = [
            # entry flow
            ("conv1", ConvNormAct(self.info.in_chans, 32, 3, stride=2, **eps)),  # N x 32 x 149 x 149
            ("conv2", ConvNormAct(32, 64, 3, **eps)),  # N x 64 x 147 x 147
            ("block1", XceptionBlock(64, 128, 2, stride=2, start_with_relu=False, **eps)),  # N x 128 x 74 x 74
            ("block2", XceptionBlock(128, 256, 2, stride=2, **eps)),  # N x 256 x 37 x 37
            ("block3", XceptionBlock(256, 728, 2, stride=2, **eps)),  # N x 728 x 19 x 19
            # middle flow
            *((f"block{i}", XceptionBlock(728, 728, 3, **eps)) for i in range(4, 12)),  # N x 728 x 19 x 19
            # exit flow
            ("block12", XceptionBlock(728, 1024, 2, stride=2, grow_first=False, **eps)),  # N x 1024 x 10 x 10
            ("conv3", separable_conv(1024, 1536, act=True, **eps)),  # N x 1536 x 10 x 10
            ("conv4", separable_conv(1536, 2048, act=True, **eps)),  # N x 2048 x 10 x 10
        ]
        super().__init__(stages, 2048, num_classes, dropout)

    def checkpoint_rules(self) -> list[KeyRule]:
        # timm: conv1/bn1 ... conv4/bn4 beside each other; a block's rep holds (ReLU, SeparableConv2d, BN)
        # triples (block1 without the ReLU), so rep index // 3 is our separable conv; skip + skipbn.
        return [
            (r"^conv([12])\.", r"features.conv\1.conv."),
            (r"^bn([12])\.", r"features.conv\1.bn."),
            (r"^conv([34])\.conv1\.", r"features.conv\1.0.conv."),
            (r"^conv([34])\.pointwise\.", r"features.conv\1.1.conv."),
            (r"^bn([34])\.", r"features.conv\1.1.bn."),
            (r"^(block\d+)\.skip\.", r"features.\1.skip.conv."),
            (r"^(block\d+)\.skipbn\.", r"features.\1.skip.bn."),
            (r"^(block\d+)\.rep\.(\d+)\.(conv1\.|pointwise\.)?", _timm_rep_key),
        ]


def _timm_rep_key(match: re.Match[str]) -> str:
    block, index, layer = match.groups()
    part = {"conv1.": "0.conv.", "pointwise.": "1.conv.", None: "1.bn."}[layer]
    return f"features.{block}.rep.{int(index) // 3}.{part}"
