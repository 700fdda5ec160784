"""Inception-ResNet-v1 and -v2: Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", arXiv:1602.07261, Sec. 3.2-3.3, Figures 7 and 10-20.

Both are built from one residual block, ``x + scale * project(concat(branches(x)))`` then ReLU (Fig. 20),
with BN on the branch convolutions only, not on the sum (Sec. 3.2). The stem and Reduction-A come from
``inception_modules`` (the shared stem of Fig. 14 and TF-slim; Fig. 7's reduction with each net's k, l, m, n).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from .base import INCEPTION_MEAN, INCEPTION_STD, InceptionNet, ModelInfo
from .checkpoint import TIMM_BRANCH_RULES, KeyRule
from .heads import InceptionAux
from .inception_modules import InceptionA, ReductionA, inception_stem
from .layers import Concat, ConvNormAct, Stage, concat_branches, conv_chain
from .registry import register_model

__all__ = ["InceptionResNetV1", "InceptionResNetV2"]


class InceptionResNetBlock(nn.Module):
    """Residual Inception block: ``act(x + scale * project(concat(branches(x))))`` (Figs. 10-13, 16-20).

    ``project`` is the linear 1x1 convolution (with bias, no BN) back to ``channels``; ``scale`` the
    residual scaling of Sec. 3.3 / Fig. 20; ``activate=False`` leaves out the ReLU (TF-slim's last block).
    """

    def __init__(self, channels: int, branches: Sequence[nn.Sequential], scale: float, activate: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.branches = nn.ModuleList(branches)
        self.project = nn.Conv2d(sum(branch[-1].out_channels for branch in branches), channels, 1)
        self.act = nn.ReLU(inplace=True) if activate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.project(concat_branches(x, self.branches))
        return self.act(torch.add(x, residual, alpha=self.scale))

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class InceptionResNetA(InceptionResNetBlock):
    """35x35 block: 1x1 || 1x1 -> 3x3 || 1x1 -> 3x3 -> 3x3, widths ``b0``, ``b1``, ``b2``.

    v1 (Fig. 10): 32, (32, 32), (32, 32, 32). v2 as released (TF-slim block35): 32, (32, 32), (32, 48, 64).
    """

    def __init__(
        self, channels: int, b0: int, b1: tuple[int, int], b2: tuple[int, int, int], scale: float,
    ) -> None:
        super().__init__(channels, [
            conv_chain(channels, (b0, 1)),
            conv_chain(channels, (b1[0], 1), (b1[1], 3)),
            conv_chain(channels, (b2[0], 1), (b2[1], 3), (b2[2], 3)),
        ], scale)


class InceptionResNetBC(InceptionResNetBlock):
    """17x17 B (``n`` = 7) and 8x8 C (``n`` = 3) blocks: 1x1 || 1x1 -> 1xn -> nx1, widths ``b0``, ``b1``.

    v1: Fig. 11 (128, (128, 128, 128)) and Fig. 13 (192, (192, 192, 192)). v2 as released (TF-slim block17,
    block8): (192, (128, 160, 192)) and (192, (192, 224, 256)).
    """

    def __init__(
        self, channels: int, b0: int, b1: tuple[int, int, int], n: int, scale: float, activate: bool = True,
    ) -> None:
        super().__init__(channels, [
            conv_chain(channels, (b0, 1)),
            conv_chain(channels, (b1[0], 1), (b1[1], (1, n)), (b1[2], (n, 1))),
        ], scale, activate)


class ResidualReductionB(Concat):
    """17x17 -> 8x8 reduction of the residual nets (v1 Fig. 12; TF-slim v2 Mixed_7a): max pool || three
    1x1 256 -> 3x3/2 branches, the last with a 3x3 in between. Widths ``b0``, ``b1``, ``b2`` = (3x3, 3x3/2).
    """

    def __init__(self, in_channels: int, b0: int, b1: int, b2: tuple[int, int]) -> None:
        super().__init__(
            conv_chain(in_channels, (256, 1), (b0, 3, 2)),
            conv_chain(in_channels, (256, 1), (b1, 3, 2)),
            conv_chain(in_channels, (256, 1), (b2[0], 3), (b2[1], 3, 2)),
            nn.MaxPool2d(3, stride=2),
        )  # N x (in + b0 + b1 + b2[1]) x 8 x 8


def _repeat(block: type[nn.Module], count: int, *args: object, **kwargs: object) -> nn.Sequential:
    return nn.Sequential(*(block(*args, **kwargs) for _ in range(count)))


@register_model("inception_resnet_v1")
class InceptionResNetV1(InceptionNet):
    """Inception-ResNet-v1 as drawn in the paper (Figs. 14, 10, 7, 11, 12, 13, 15); no reference code exists.

    Stem (Fig. 14) -> 5x A -> Reduction-A (k, l, m, n = 192, 192, 256, 384) -> 10x B -> Reduction-B ->
    5x C -> average pool -> dropout -> linear. Choices the figures leave open: BN + ReLU after every
    branch conv, a linear 1x1 projection with bias, no BN after the sum (Sec. 3.2). The paper gives only a
    0.1-0.3 range for the residual scales ("typically around 0.1", Fig. 20), hence 0.1 for each stage.
    The paper describes no aux head; ``aux_logits`` adds the TF-slim one on the last 17x17 map.

    Args:
        num_classes: classifier outputs.
        dropout: before the classifier (Fig. 15: keep 0.8).
        aux_logits: the TF-slim-style aux classifier on Repeat_1 (``InceptionAux``).
        residual_scales: residual scaling of the 35x35, 17x17 and 8x8 blocks.
    """

    info = ModelInfo(
        default_input_size=299,
        min_input_size=75,  # the smallest input that leaves a 1x1 map after Reduction-B
        crop_pct=0.875,  # TF-slim evaluation: central 87.5% crop, bilinear resize, inputs scaled to [-1, 1]
        interpolation="bilinear",
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        aux_loss_weight=0.4,  # as for the TF-slim nets, when the aux head is on
    )

    def __init__(
        self,
        num_classes: int = 1000,
        dropout: float = 0.2,
        aux_logits: bool = False,
        residual_scales: Sequence[float] = (0.1, 0.1, 0.1),
    ) -> None:
        scale_a, scale_b, scale_c = residual_scales
        stages: list[Stage] = [
            *inception_stem(self.info.in_chans),  # N x 192 x 71 x 71
            ("Conv2d_4b_3x3", ConvNormAct(192, 256, 3, stride=2)),  # N x 256 x 35 x 35
            ("Repeat", _repeat(InceptionResNetA, 5, 256, 32, (32, 32), (32, 32, 32), scale_a)),  # N x 256 x 35 x 35
            ("Mixed_6a", ReductionA(256, k=192, l=192, m=256, n=384)),  # N x 896 x 17 x 17
            ("Repeat_1", _repeat(InceptionResNetBC, 10, 896, 128, (128, 128, 128), 7, scale_b)),  # N x 896 x 17 x 17
            ("Mixed_7a", ResidualReductionB(896, 384, 256, (256, 256))),  # N x 1792 x 8 x 8
            ("Repeat_2", _repeat(InceptionResNetBC, 5, 1792, 192, (192, 192, 192), 3, scale_c)),  # N x 1792 x 8 x 8
        ]
        super().__init__(stages, 1792, num_classes, dropout,
                         aux_heads={"Repeat_1": partial(InceptionAux, 896)}, aux_logits=aux_logits)


@register_model("inception_resnet_v2")
class InceptionResNetV2(InceptionNet):
    """Inception-ResNet-v2 as released by TF-slim (and ported by timm and Keras), not as drawn in the paper.

    The paper's figures are internally inconsistent: with its 384-channel v4 stem (Fig. 3), Reduction-A gives
    1152 channels where Fig. 17 projects to 1154, and Reduction-B (Fig. 18) 2144 where Fig. 19 projects to 2048;
    they cannot be built as drawn, and every released weight follows TF-slim instead: the Inception-v3 stem +
    Mixed_5b (35x35x320), 10x block35 (scale 0.17) -> Mixed_6a (Fig. 7, k, l, m, n = 256, 256, 384, 384;
    17x17x1088) -> 20x block17 (0.10) -> Mixed_7a (8x8x2080) -> 9x block8 (0.20) + one without scale or
    ReLU -> 1x1 conv 1536 -> average pool -> dropout -> linear. The paper itself has 5/10/5 blocks.

    Args:
        num_classes: classifier outputs.
        dropout: before the classifier (Fig. 15 and TF-slim: keep 0.8).
        aux_logits: the TF-slim aux classifier on Repeat_1 ("PreAuxLogits"); off by default as timm has none.
        residual_scales: residual scaling of block35, block17 and block8 (TF-slim; the paper says 0.1-0.3).
    """

    info = ModelInfo(
        default_input_size=299,
        min_input_size=75,  # the smallest input that leaves a 1x1 map after Mixed_7a
        crop_pct=0.8975,  # timm's evaluation of the TF-slim weights
        interpolation="bicubic",
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        aux_loss_weight=0.4,  # TF-slim train_image_classifier.py, when the aux head is on
    )

    def __init__(
        self,
        num_classes: int = 1000,
        dropout: float = 0.2,
        aux_logits: bool = False,
        residual_scales: Sequence[float] = (0.17, 0.10, 0.20),
    ) -> None:
        scale_a, scale_b, scale_c = residual_scales
        stages: list[Stage] = [
            *inception_stem(self.info.in_chans),  # N x 192 x 71 x 71
            ("MaxPool_5a_3x3", nn.MaxPool2d(3, stride=2)),  # N x 192 x 35 x 35
            ("Mixed_5b", InceptionA(192, pool_features=64, width_1x1=96, count_include_pad=False)),  # N x 320 x 35 x 35
            ("Repeat", _repeat(InceptionResNetA, 10, 320, 32, (32, 32), (32, 48, 64), scale_a)),  # N x 320 x 35 x 35
            ("Mixed_6a", ReductionA(320, k=256, l=256, m=384, n=384)),  # N x 1088 x 17 x 17
            ("Repeat_1", _repeat(InceptionResNetBC, 20, 1088, 192, (128, 160, 192), 7, scale_b)),  # N x 1088 x 17 x 17
            ("Mixed_7a", ResidualReductionB(1088, 384, 288, (288, 320))),  # N x 2080 x 8 x 8
            ("Repeat_2", _repeat(InceptionResNetBC, 9, 2080, 192, (192, 224, 256), 3, scale_c)),  # N x 2080 x 8 x 8
            ("Block8", InceptionResNetBC(2080, 192, (192, 224, 256), 3, scale=1.0, activate=False)),  # N x 2080 x 8 x 8
            ("Conv2d_7b_1x1", ConvNormAct(2080, 1536, 1)),  # N x 1536 x 8 x 8
        ]
        super().__init__(stages, 1536, num_classes, dropout,
                         aux_heads={"Repeat_1": partial(InceptionAux, 1088)}, aux_logits=aux_logits)

    def checkpoint_rules(self) -> list[KeyRule]:
        return [
            (r"^(conv2d_\w\w|mixed_\w\w|repeat(?:_\d)?|block8)\.", lambda m: f"features.{_TIMM_STAGES[m[1]]}."),
            (r"^classif\.", "fc."),
            (r"\.conv2d\.", ".project."),
            *TIMM_BRANCH_RULES,
        ]


_TIMM_STAGES = {  # timm inception_resnet_v2 attribute -> TF-slim end point
    "conv2d_1a": "Conv2d_1a_3x3", "conv2d_2a": "Conv2d_2a_3x3", "conv2d_2b": "Conv2d_2b_3x3",
    "conv2d_3b": "Conv2d_3b_1x1", "conv2d_4a": "Conv2d_4a_3x3", "mixed_5b": "Mixed_5b", "repeat": "Repeat",
    "mixed_6a": "Mixed_6a", "repeat_1": "Repeat_1", "mixed_7a": "Mixed_7a", "repeat_2": "Repeat_2",
    "block8": "Block8", "conv2d_7b": "Conv2d_7b_1x1",
}
