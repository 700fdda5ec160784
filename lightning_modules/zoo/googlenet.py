"""GoogLeNet (Inception-v1): Szegedy et al., "Going deeper with convolutions", arXiv:1409.4842 (CVPR 2015).

One class builds both forms, each under its own registry name:

* ``googlenet``, the paper's: Table 1 widths, true 5x5 convolutions, conv biases and no BatchNorm,
  LocalResponseNorm where Figure 3 puts it, 3x3/2 max pool between 4e and 5a, dropout 0.4 and the two
  auxiliary classifiers of Sec. 5 on 4a and 4d (loss weight 0.3);
* ``googlenet_bn``, torchvision's (ported from TF-slim's ``inception_v1``): BatchNorm, no LRN, 3x3 "5x5" convs,
  a 2x2/2 pool between 4e and 5a, dropout 0.2, adaptive aux-head pools and, for its TF-ported weights,
  ``transform_input=True``. Its state_dicts load through ``checkpoint_rules`` and the outputs equal torchvision's.

Both forms use ``ceil_mode`` max pools: without padding that is TF's SAME pooling on the even grids here
(112 -> 56 -> 28 -> 14 -> 7), so it is no difference between them.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial

from torch import nn

from .base import InceptionNet, ModelInfo
from .checkpoint import KeyRule
from .heads import GoogLeNetAux
from .inception_modules import InceptionModule
from .layers import ConvNormAct, Stage
from .registry import register_model

__all__ = ["GoogLeNet", "GoogLeNetBN"]

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
_TABLE1: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),  # N x 256 x 28 x 28
    "3b": (128, 128, 192, 32, 96, 64),  # N x 480 x 28 x 28
    "4a": (192, 96, 208, 16, 48, 64),  # N x 512 x 14 x 14
    "4b": (160, 112, 224, 24, 64, 64),  # N x 512 x 14 x 14
    "4c": (128, 128, 256, 24, 64, 64),  # N x 512 x 14 x 14
    "4d": (112, 144, 288, 32, 64, 64),  # N x 528 x 14 x 14
    "4e": (256, 160, 320, 32, 128, 128),  # N x 832 x 14 x 14
    "5a": (256, 160, 320, 32, 128, 128),  # N x 832 x 7 x 7
    "5b": (384, 192, 384, 48, 128, 128),  # N x 1024 x 7 x 7
}

# torchvision key -> ours: stages live in `features`; Inception.branch<k> is our branches.<k-1>; aux1 / aux2
# are the heads on 4a / 4d, their fc2 our fc. This project's checkpoints from before stages (conv1.*, aux1.*)
# map the same way.
_TORCHVISION_KEYS: list[KeyRule] = [
    (r"^(conv\d|inception\d\w)\.", r"features.\1."),
    (r"^aux1\.", "aux_heads.inception4a."),
    (r"^aux2\.", "aux_heads.inception4d."),
    (r"^(aux_heads\.\w+)\.fc2\.", r"\1.fc."),
    (r"\.branch([1-4])\.", lambda m: f".branches.{int(m[1]) - 1}."),
]


@register_model("googlenet")
class GoogLeNet(InceptionNet):
    """GoogLeNet, Szegedy et al. 2015, Table 1 and Figure 3 (see the module docstring for the two forms).

    Args:
        num_classes: classifier outputs.
        aux_logits: build the auxiliary classifiers on 4a and 4d (Sec. 5); training returns their logits.
        dropout: before the classifier (Table 1: 40%; torchvision 0.2).
        aux_dropout: in the auxiliary classifiers (Sec. 5: 70%).
        norm: BatchNorm (eps 1e-3) after every conv instead of conv biases (torchvision / TF-slim).
        lrn: LocalResponseNorm after the first max pool and after the 3x3 conv (Figure 3). Size 5,
            alpha 1e-4, beta 0.75: the paper gives none; these are AlexNet's, as in Caffe's bvlc_googlenet.
        tower_kernel: kernel of the "#5x5" convs (torchvision / TF-slim: 3, a known deviation, pytorch/vision#906).
        pool4_kernel: max pool between 4e and 5a (Table 1: 3x3/2; torchvision / TF-slim: 2x2/2).
        aux_adaptive_pool: adaptive 4x4 average pool in the aux heads (torchvision) instead of 5x5/3.
        transform_input: map ImageNet-normalised input to the (x - 0.5) / 0.5 scale of TF-ported weights.
    """

    info = ModelInfo(
        default_input_size=224,  # Sec. 5: "receptive field ... 224x224"
        min_input_size=31,  # smallest input the paper form runs; aux heads: see GoogLeNetAux
        aux_loss_weight=0.3,  # Sec. 5
    )

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        dropout: float = 0.4,
        aux_dropout: float = 0.7,
        norm: bool = False,
        lrn: bool = True,
        tower_kernel: int = 5,
        pool4_kernel: int = 3,
        aux_adaptive_pool: bool = False,
        transform_input: bool = False,
    ) -> None:
        conv = partial(ConvNormAct, norm=norm)
        modules, in_chs = {}, 192
        for name, widths in _TABLE1.items():
            modules[name] = InceptionModule(in_chs, *widths, conv=conv, tower_kernels=(tower_kernel,))
            in_chs = modules[name].out_channels

        def local_response_norm(name: str) -> list[Stage]:
            return [(name, nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75))] if lrn else []

        def max_pool(name: str, kernel: int = 3) -> Stage:
            return name, nn.MaxPool2d(kernel, stride=2, ceil_mode=True)

        def inception(*names: str) -> list[Stage]:
            return [(f"inception{name}", modules[name]) for name in names]

        stages = [
            ("conv1", conv(3, 64, 7, stride=2, padding=3)),  # N x 64 x 112 x 112
            max_pool("maxpool1"),  # N x 64 x 56 x 56
            *local_response_norm("lrn1"),
            ("conv2", conv(64, 64, 1)),  # N x 64 x 56 x 56
            ("conv3", conv(64, 192, 3, padding=1)),  # N x 192 x 56 x 56
            *local_response_norm("lrn2"),
            max_pool("maxpool2"),  # N x 192 x 28 x 28
            *inception("3a", "3b"),  # N x 480 x 28 x 28
            max_pool("maxpool3"),  # N x 480 x 14 x 14
            *inception("4a", "4b", "4c", "4d", "4e"),  # N x 832 x 14 x 14
            max_pool("maxpool4", pool4_kernel),  # N x 832 x 7 x 7
            *inception("5a", "5b"),  # N x 1024 x 7 x 7
        ]
        aux = partial(GoogLeNetAux, grid=4, conv=conv, adaptive_pool=aux_adaptive_pool, dropout=aux_dropout)
        super().__init__(
            stages, in_chs, num_classes, dropout, aux_logits=aux_logits, transform_input=transform_input,
            aux_heads={f"inception{n}": partial(aux, modules[n].out_channels) for n in ("4a", "4d")},  # Sec. 5
        )

    def checkpoint_rules(self) -> list[KeyRule]:
        return _TORCHVISION_KEYS


@register_model("googlenet_bn")
class GoogLeNetBN(GoogLeNet):
    """GoogLeNet in torchvision's form (TF-slim ``inception_v1``): loads torchvision's ``googlenet`` weights.

    Args:
        num_classes: classifier outputs.
        aux_logits: the aux classifiers on 4a and 4d (torchvision builds them only with ``aux_logits=True``; its
            pretrained weights have none, and load here with the heads kept at their initialisation).
        dropout: before the classifier (torchvision; the paper: 0.4).
        aux_dropout: in the auxiliary classifiers (torchvision and the paper: 0.7).
        transform_input: true for torchvision's TF-ported ImageNet weights.
    """

    info = replace(GoogLeNet.info, min_input_size=15)  # the 2x2 pool before 5a still runs on 15x15 inputs

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        dropout: float = 0.2,
        aux_dropout: float = 0.7,
        transform_input: bool = False,
    ) -> None:
        super().__init__(
            num_classes, aux_logits, dropout, aux_dropout, norm=True, lrn=False, tower_kernel=3, pool4_kernel=2,
            aux_adaptive_pool=True, transform_input=transform_input,
        )
