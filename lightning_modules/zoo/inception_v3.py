"""Inception-v3: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", arXiv:1512.00567.

The layout is the one every released checkpoint uses (TF-slim ``inception_v3``, ported by torchvision
and timm), whose stem and 35x35 modules differ from the paper's Table 1 (see ``InceptionV3``). Its modules
(``inception_modules.py``) and aux head (``heads.InceptionAux``) are shared with the later networks.
Stage names are the TF-slim end points (``Conv2d_1a_3x3``, ``Mixed_5b`` ...).
"""
from __future__ import annotations

import re
from functools import partial

from torch import nn

from .base import InceptionNet, ModelInfo
from .checkpoint import KeyRule, branch_key
from .heads import InceptionAux
from .inception_modules import InceptionA, InceptionC, InceptionE, ReductionA, ReductionB, inception_stem
from .registry import register_model

__all__ = ["InceptionV3"]


@register_model("inception_v3")
class InceptionV3(InceptionNet):
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
    )

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.2, aux_logits: bool = True, transform_input: bool = False,
    ) -> None:
        stages = [
            *inception_stem(self.info.in_chans),  # N x 192 x 71 x 71
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
        super().__init__(
            stages, 2048, num_classes, dropout, aux_heads={"Mixed_6e": partial(InceptionAux, 768)},
            aux_logits=aux_logits, transform_input=transform_input,
        )

    def checkpoint_rules(self) -> list[KeyRule]:
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
