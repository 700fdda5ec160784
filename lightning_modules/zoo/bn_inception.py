"""BN-Inception: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", arXiv:1502.03167, Sec. 4.2 and Appendix Figure 5.

GoogLeNet with BatchNorm before every nonlinearity and the changes the Appendix lists: each 5x5 conv replaced
by two 3x3 (``InceptionModule(tower_kernels=(3, 3))``), three 28x28 modules instead of two, average or max
pooling inside the modules, no pools between modules (3c and 4e reduce the grid with stride-2 branches and a
max-pool pass-through), a separable first conv (depth multiplier 8), no LRN and, per Sec. 4.2.1, no dropout.
TF-slim ships it as ``inception_v2`` (Mixed_3b ... Mixed_5c).

Parameter count: the paper says 13.6M (Sec. 4.2); Figure 5 rebuilt gives 11,188,288 (1000 classes, no aux
heads). No reading of the figure closes the gap: the printed pool-proj 128 adds 90,240, a plain 7x7 stem 6,696,
GoogLeNet's two aux heads (which the paper does not mention) 6,394,320. We build the figure and keep TF-slim's
pool-proj 96 in 4c and 4d: Figure 5 prints 128 there, but its own output widths (576, the input 4d and 4e
need) only add up with 96. ``pool_proj_4cd=128`` builds the printed numbers instead (4c and 4d then output
608 channels).
"""
from __future__ import annotations

from functools import partial

from torch import nn

from .base import INCEPTION_MEAN, INCEPTION_STD, InceptionNet, ModelInfo
from .heads import GoogLeNetAux
from .inception_modules import InceptionModule
from .layers import ConvNormAct, separable_conv
from .registry import register_model

__all__ = ["BNInception"]

# Figure 5: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj (0: pass through), stride
_FIGURE5: dict[str, tuple[int, int, int, int, int, str, int, int]] = {
    "3a": (64, 64, 64, 64, 96, "avg", 32, 1),  # N x 256 x 28 x 28
    "3b": (64, 64, 96, 64, 96, "avg", 64, 1),  # N x 320 x 28 x 28
    "3c": (0, 128, 160, 64, 96, "max", 0, 2),  # N x 576 x 14 x 14 (Figure 5 prints the input grid, 28x28)
    "4a": (224, 64, 96, 96, 128, "avg", 128, 1),  # N x 576 x 14 x 14
    "4b": (192, 96, 128, 96, 128, "avg", 128, 1),  # N x 576 x 14 x 14
    "4c": (160, 128, 160, 128, 160, "avg", 96, 1),  # N x 576 x 14 x 14 (pool proj: see pool_proj_4cd)
    "4d": (96, 128, 192, 160, 192, "avg", 96, 1),  # N x 576 x 14 x 14 (pool proj: see pool_proj_4cd)
    "4e": (0, 128, 192, 192, 256, "max", 0, 2),  # N x 1024 x 7 x 7 (Figure 5 prints 14x14)
    "5a": (352, 192, 320, 160, 224, "avg", 128, 1),  # N x 1024 x 7 x 7
    "5b": (352, 192, 320, 192, 224, "max", 128, 1),  # N x 1024 x 7 x 7
}


@register_model("bn_inception")
class BNInception(InceptionNet):
    """BN-Inception, Figure 5 of the BN paper (see the module docstring).

    Args:
        num_classes: classifier outputs.
        aux_logits: GoogLeNet's auxiliary classifiers (with BN) on 4a and 4d. Off by default: Figure 5 and the
            text describe none, and TF-slim's inception_v2 has none; the paper does not say the training dropped
            GoogLeNet's heads, so they are here to be tried.
        dropout: before the classifier (Sec. 4.2.1 removes GoogLeNet's 0.4; TF-slim keeps 0.2).
        aux_dropout: in the auxiliary classifiers (GoogLeNet's 0.7).
        separable_stem: Figure 5's "convolution*": a 7x7 depthwise conv with depth multiplier 8 (3 -> 24
            channels) then a 1x1 to 64, as in TF-slim; ``False``: GoogLeNet's plain 7x7 conv.
        pool_proj_4cd: pool projection of 4c and 4d (96: TF-slim, consistent with Figure 5's widths; 128: as printed).
    """

    info = ModelInfo(
        default_input_size=224,  # Figure 4 "Resolution 224"
        min_input_size=7,  # smallest input the body runs; aux heads: see GoogLeNetAux
        mean=INCEPTION_MEAN,  # TF-slim's [-1, 1] scaling; the paper states no normalisation
        std=INCEPTION_STD,
        aux_loss_weight=0.3,  # GoogLeNet's weight for its heads (Sec. 5 of arXiv:1409.4842)
    )

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = False,
        dropout: float = 0.0,
        aux_dropout: float = 0.7,
        separable_stem: bool = True,
        pool_proj_4cd: int = 96,
    ) -> None:
        modules, in_chs = {}, 192
        for name, (ch1x1, ch3x3red, ch3x3, dbl_red, dbl, pool, pool_proj, stride) in _FIGURE5.items():
            pool_proj = pool_proj_4cd if name in ("4c", "4d") else pool_proj
            modules[name] = InceptionModule(
                in_chs, ch1x1, ch3x3red, ch3x3, dbl_red, dbl, pool_proj, tower_kernels=(3, 3), pool=pool, stride=stride
            )
            in_chs = modules[name].out_channels
        if separable_stem:  # TF-slim separable_conv2d: no BN / ReLU between depthwise and pointwise
            conv1: nn.Module = separable_conv(3, 64, 7, stride=2, depth_multiplier=8)
        else:
            conv1 = ConvNormAct(3, 64, 7, stride=2, padding=3)
        stages = [
            ("conv1", conv1),  # N x 64 x 112 x 112
            ("maxpool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),  # N x 64 x 56 x 56
            ("conv2", ConvNormAct(64, 64, 1)),  # N x 64 x 56 x 56
            ("conv3", ConvNormAct(64, 192, 3, padding=1)),  # N x 192 x 56 x 56
            ("maxpool2", nn.MaxPool2d(3, stride=2, ceil_mode=True)),  # N x 192 x 28 x 28
            *((f"inception{name}", module) for name, module in modules.items()),  # N x 1024 x 7 x 7 (see _FIGURE5)
        ]
        aux = partial(GoogLeNetAux, grid=4, dropout=aux_dropout)
        super().__init__(
            stages, in_chs, num_classes, dropout, aux_logits=aux_logits,
            aux_heads={f"inception{n}": partial(aux, modules[n].out_channels) for n in ("4a", "4d")},
        )
