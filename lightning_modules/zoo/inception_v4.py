"""Inception-v4: Szegedy, Ioffe, Vanhoucke, Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", arXiv:1602.07261, Figures 3-9. Filter counts and layer order follow TF-slim
``inception_v4`` (as ported by timm), so timm's weights load.
"""
from __future__ import annotations

from functools import partial

from torch import nn

from .base import INCEPTION_MEAN, INCEPTION_STD, InceptionNet, ModelInfo
from .checkpoint import TIMM_BRANCH_RULES, KeyRule
from .heads import InceptionAux
from .inception_modules import InceptionC, ReductionA, ReductionB, expanded_1x3_3x1, inception_stem
from .layers import Concat, conv_chain, pool_branch
from .registry import register_model

__all__ = ["InceptionV4"]


class InceptionV4A(Concat):
    """35x35 Inception-A (Fig. 4): four 96-wide branches, 384 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            conv_chain(in_channels, (96, 1)),
            conv_chain(in_channels, (64, 1), (96, 3)),
            conv_chain(in_channels, (64, 1), (96, 3), (96, 3)),
            pool_branch(in_channels, 96, count_include_pad=False),
        )  # N x 384 x 35 x 35


class InceptionV4C(Concat):
    """8x8 Inception-C (Fig. 6): expanded 1x3 / 3x1 outputs on two branches, 1536 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            conv_chain(in_channels, (256, 1)),
            conv_chain(in_channels, (384, 1)).append(expanded_1x3_3x1(384, 256)),
            conv_chain(in_channels, (384, 1), (448, (3, 1)), (512, (1, 3))).append(expanded_1x3_3x1(512, 256)),
            pool_branch(in_channels, 256, count_include_pad=False),
        )  # N x 1536 x 8 x 8


@register_model("inception_v4")
class InceptionV4(InceptionNet):
    """Inception-v4 (Fig. 9): stem (Fig. 3) -> 4x Inception-A -> Reduction-A -> 7x Inception-B -> Reduction-B
    -> 3x Inception-C -> average pool -> dropout -> linear.

    As in TF-slim: the last stem conv has stride 2 (Fig. 3 omits it, but 71 -> 35 needs it) and the stem's
    factorized 7x7 runs 1x7 before 7x1 (Fig. 3 draws 7x1 first). The paper describes no aux head; TF-slim
    has one on Mixed_6h, here optional (``aux_logits``) and off by default, as timm has none.

    Args:
        num_classes: classifier outputs.
        dropout: before the classifier (Fig. 9: keep 0.8).
        aux_logits: the TF-slim aux classifier on the last 17x17 map (``InceptionAux``).
    """

    info = ModelInfo(
        default_input_size=299,
        min_input_size=75,  # the smallest input that leaves a 1x1 map after Reduction-B
        crop_pct=0.875,
        interpolation="bicubic",  # timm's evaluation of the TF-slim weights
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        aux_loss_weight=0.4,  # TF-slim train_image_classifier.py, when the aux head is on
    )

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, aux_logits: bool = False) -> None:
        stages = [
            *inception_stem(self.info.in_chans)[:3],  # N x 64 x 147 x 147
            ("Mixed_3a", Concat(nn.MaxPool2d(3, stride=2), conv_chain(64, (96, 3, 2)))),  # N x 160 x 73 x 73
            ("Mixed_4a", Concat(
                conv_chain(160, (64, 1), (96, 3, 1, 0)),
                conv_chain(160, (64, 1), (64, (1, 7)), (64, (7, 1)), (96, 3, 1, 0)),
            )),  # N x 192 x 71 x 71
            ("Mixed_5a", Concat(conv_chain(192, (192, 3, 2)), nn.MaxPool2d(3, stride=2))),  # N x 384 x 35 x 35
            *((f"Mixed_5{c}", InceptionV4A(384)) for c in "bcde"),  # N x 384 x 35 x 35
            ("Mixed_6a", ReductionA(384, k=192, l=224, m=256, n=384)),  # N x 1024 x 17 x 17
            *((f"Mixed_6{c}", InceptionC(1024, 384, (192, 224, 256), (192, 192, 224, 224, 256), 128, False))
              for c in "bcdefgh"),  # Inception-B (Fig. 5): N x 1024 x 17 x 17
            ("Mixed_7a", ReductionB(1024, (192, 192), (256, 256, 320, 320))),  # N x 1536 x 8 x 8
            *((f"Mixed_7{c}", InceptionV4C(1536)) for c in "bcd"),  # N x 1536 x 8 x 8
        ]
        super().__init__(stages, 1536, num_classes, dropout, aux_heads={"Mixed_6h": partial(InceptionAux, 1024)},
                         aux_logits=aux_logits)

    def checkpoint_rules(self) -> list[KeyRule]:
        # timm: one flat `features` Sequential (indices in our stage order), classifier `last_linear`.
        names = list(self.features._modules)
        return [
            (r"^features\.3\.conv\.", "features.Mixed_3a.branches.1.0."),
            (r"^features\.5\.conv\.", "features.Mixed_5a.branches.0.0."),
            (r"^features\.(\d+)\.", lambda m: f"features.{names[int(m[1])]}."),
            (r"^last_linear\.", "fc."),
            *TIMM_BRANCH_RULES,
        ]
