"""Inception-v3 and the pieces the later Inception networks reuse.

Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", arXiv:1512.00567.
The layout is the one every released checkpoint uses (TF-slim ``inception_v3``, ported by torchvision
and timm), whose stem and 35x35 modules differ from the paper's Table 1 (see ``InceptionV3``).

Shared with ``inception_v4``, ``inception_resnet`` and ``xception``: ``conv_chain``/``Concat`` (how a
module is declared), ``inception_stem``, the grid reductions, ``InceptionAux`` and ``SequentialInceptionNet``
(a body of named stages with aux heads tapping them, and checkpoint key mapping).
Stage names are the TF-slim end points (``Conv2d_1a_3x3``, ``Mixed_5b`` ...).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from .base import AuxHead, InceptionNet, ModelInfo
from .googlenet import init_weights
from .layers import ConvNormAct, concat_branches
from .registry import register_model
from .weights import CheckpointMismatchError, rename_keys

Kernel = Union[int, tuple[int, int]]
# (out_channels, kernel[, stride[, padding]]): stride 1 defaults to "same" padding, a stride > 1 to none
# ("VALID"), the TF-slim convention of every network here.
Layer = Union[tuple[int, Kernel], tuple[int, Kernel, int], tuple[int, Kernel, int, Kernel]]
Stage = tuple[str, nn.Module]
Rule = tuple[str, Union[str, Callable[[re.Match[str]], str]]]

__all__ = ["InceptionV3", "SequentialInceptionNet", "Concat", "conv_chain", "inception_stem", "branch_key"]


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


class Concat(nn.Module):
    """Parallel branches on one input, concatenated along channels: the Inception module itself."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return concat_branches(x, self.branches)


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
        )


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


def inception_stem(in_chans: int) -> list[Stage]:
    """The stem Inception-v3, TF-slim Inception-ResNet-v2 and Inception-ResNet-v1 (v4 paper Fig. 14) share.

    Inception-v4 (Fig. 3) shares its first three convolutions. Shapes for a 299x299 input.
    """
    return [
        ("Conv2d_1a_3x3", ConvNormAct(in_chans, 32, 3, stride=2)),  # N x 32 x 149 x 149
        ("Conv2d_2a_3x3", ConvNormAct(32, 32, 3)),  # N x 32 x 147 x 147
        ("Conv2d_2b_3x3", ConvNormAct(32, 64, 3, padding=1)),  # N x 64 x 147 x 147
        ("MaxPool_3a_3x3", nn.MaxPool2d(3, stride=2)),  # N x 64 x 73 x 73
        ("Conv2d_3b_1x1", ConvNormAct(64, 80, 1)),  # N x 80 x 73 x 73
        ("Conv2d_4a_3x3", ConvNormAct(80, 192, 3)),  # N x 192 x 71 x 71
    ]


def branch_key(branch: int | str, position: int | str, side: str | None) -> str:
    """Our key infix for layer ``position`` of branch ``branch`` of a ``Concat``; ``side`` a / b picks the
    1x3 / 3x1 half of an ``expanded_1x3_3x1`` pair there."""
    return f".branches.{branch}.{position}." + (f"branches.{'ab'.index(side)}." if side else "")


class SequentialInceptionNet(InceptionNet):
    """An ``InceptionNet`` whose body is ``features``, a sequence of named stages; aux heads tap named stages.

    Subclasses pass their stages and list ``checkpoint_rules``: regex renames from timm / torchvision keys to
    ours. Rules match only foreign names, so this project's own checkpoints pass through unchanged.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        num_features: int,
        num_classes: int,
        dropout: float,
        aux_taps: dict[str, int] | None = None,
        aux_logits: bool = False,
        transform_input: bool = False,
    ) -> None:
        super().__init__(num_classes, dropout, aux_logits, transform_input)
        self.features = nn.Sequential(OrderedDict(stages))
        # Built only when on, so DDP sees no unused parameters with aux off.
        taps = aux_taps if aux_logits and aux_taps else {}
        self.aux_heads = nn.ModuleDict({name: InceptionAux(channels, num_classes) for name, channels in taps.items()})
        self.num_features = num_features
        self.fc = nn.Linear(num_features, num_classes)
        init_weights(self)

    def _forward_body(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        for name, stage in self.features.named_children():
            x = stage(x)
            if with_aux and name in self.aux_heads:
                aux.append(self.aux_heads[name](x))
        return x, aux

    def checkpoint_rules(self) -> list[Rule]:
        """``(pattern, replacement)`` pairs applied in order by ``re.sub`` to each checkpoint key."""
        return []

    def remap_checkpoint(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename timm / torchvision keys to ours; drop the checkpoint's aux heads when ours are off.

        A checkpoint without aux heads (timm's) cannot fill ours: build the model with ``aux_logits=False``.
        """
        renamed = rename_keys(state_dict, self.checkpoint_rules())
        if not self.aux_heads:
            return {k: v for k, v in renamed.items() if not k.startswith("aux_heads.")}
        if not any(key.startswith("aux_heads.") for key in renamed):
            raise CheckpointMismatchError(
                f"the checkpoint has no aux-head weights but this {type(self).__name__} has aux heads: "
                "create it with aux_logits=False to load it"
            )
        return renamed


@register_model("inception_v3")
class InceptionV3(SequentialInceptionNet):
    """Inception-v3 (Rethinking Table 1, Sec. 6 and 10) in the layout of TF-slim / torchvision / timm.

    Deviations of that layout from the paper, kept because all released weights use it: the stem runs
    1x1 80 -> 3x3 192 V -> max pool (Table 1: 3x3 80 -> 3x3/2 192 -> 3x3 288); the 35x35 modules keep a
    5x5 branch and the first one outputs 256 channels, not 288; the 768-wide 5x5 conv in the aux head
    (see ``InceptionAux``). Average pools count padding as torchvision's do (TF excludes it).

    Args:
        num_classes: classifier outputs.
        dropout: before the classifier (TF-slim keeps 0.8; torchvision uses 0.5, timm 0).
        aux_logits: the aux classifier on Mixed_6e (loss weight 0.4 in TF-slim's training script).
        transform_input: map ImageNet-normalised input to the (x - 0.5) / 0.5 scale of torchvision's
            TF-ported weights.
    """

    info = ModelInfo(
        default_input_size=299,
        min_input_size=75,  # torchvision's minimum; the aux head in training needs 299 (see InceptionAux)
        crop_pct=0.875,
        interpolation="bilinear",
        aux_loss_weight=0.4,  # TF-slim train_image_classifier.py; the paper states none
        paper={
            "top1": 78.8, "top5": 94.4,  # Rethinking Table 3 (21.2% / 5.6% error, single crop, 48,238 val images)
            "params": 23_834_568,  # no aux; paper: "< 25 million"; Xception paper Table 3 says 23,626,728
            "gmacs": 5.713,  # torchvision meta _ops; paper: "5 billion multiply-adds", Table 3 "4.8 Bn ops"
            "source": "Szegedy et al. 2015 (arXiv:1512.00567) Table 3; params/GMACs: torchvision 0.29 meta",
        },
    )

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.2, aux_logits: bool = True, transform_input: bool = False,
    ) -> None:
        stages = [
            *inception_stem(self.info.in_chans),
            ("MaxPool_5a_3x3", nn.MaxPool2d(3, stride=2)),  # N x 192 x 35 x 35
            ("Mixed_5b", InceptionA(192, pool_features=32)),  # N x 256 x 35 x 35
            ("Mixed_5c", InceptionA(256, pool_features=64)),  # N x 288 x 35 x 35
            ("Mixed_5d", InceptionA(288, pool_features=64)),  # N x 288 x 35 x 35
            ("Mixed_6a", ReductionA(288, k=64, l=96, m=96, n=384)),  # N x 768 x 17 x 17
            *((name, InceptionC(768, 192, (c7, c7, 192), (c7, c7, c7, c7, 192), 192))  # N x 768 x 17 x 17
              for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192))),
            ("Mixed_7a", ReductionB(768, (192, 320), (192, 192, 192, 192))),  # N x 1280 x 8 x 8
            ("Mixed_7b", InceptionE(1280)),  # N x 2048 x 8 x 8
            ("Mixed_7c", InceptionE(2048)),  # N x 2048 x 8 x 8
        ]
        super().__init__(stages, 2048, num_classes, dropout, {"Mixed_6e": 768}, aux_logits, transform_input)

    def checkpoint_rules(self) -> list[Rule]:
        # torchvision and timm share key names: TF-slim stage names, one attribute per branch layer.
        return [
            (r"^AuxLogits\.", "aux_heads.Mixed_6e."),
            (r"^Conv2d_", "features.Conv2d_"),
            (r"^(Mixed_\w\w)\.branch(_pool|[\dx]+(?:dbl)?)(?:_(\d)([ab])?)?\.", _torchvision_branch),
        ]


# torchvision / timm Inception-v3 branches are named branch<family>[_<step>[a|b]]; the families of each
# module type in concat order (a key's own entry, e.g. Mixed_6a, before its type's, e.g. Mixed_6).
_TORCHVISION_FAMILIES = {
    "Mixed_5": ("1x1", "5x5", "3x3dbl", "_pool"),  # InceptionA
    "Mixed_6a": ("3x3", "3x3dbl"),  # ReductionA
    "Mixed_6": ("1x1", "7x7", "7x7dbl", "_pool"),  # InceptionC
    "Mixed_7a": ("3x3", "7x7x3"),  # ReductionB
    "Mixed_7": ("1x1", "3x3", "3x3dbl", "_pool"),  # InceptionE
}


def _torchvision_branch(match: re.Match[str]) -> str:
    stage, family, step, side = match.groups()
    families = _TORCHVISION_FAMILIES.get(stage) or _TORCHVISION_FAMILIES[stage[:7]]
    position = int(step) - 1 if step else int(family == "_pool")  # a pool branch's conv follows its AvgPool
    return f"features.{stage}" + branch_key(families.index(family), position, side)
