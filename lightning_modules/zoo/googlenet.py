"""GoogLeNet (Inception-v1) and the Inception module and auxiliary classifier it introduced.

Szegedy et al., "Going deeper with convolutions", arXiv:1409.4842 (CVPR 2015). One class builds two forms:

* the paper's (the defaults): Table 1 widths, true 5x5 convolutions, conv biases and no BatchNorm,
  LocalResponseNorm where Figure 3 puts it, 3x3/2 max pool between 4e and 5a, dropout 0.4 and the two
  auxiliary classifiers of Sec. 5 on 4a and 4d (loss weight 0.3);
* torchvision's (ported from TF-slim's ``inception_v1``): ``norm=True, lrn=False, tower_kernel=3,
  pool4_kernel=2, dropout=0.2, aux_adaptive_pool=True`` and, for its TF-ported weights,
  ``transform_input=True`` (conf/model/googlenet_bn.yaml). Its state_dicts load through ``remap_checkpoint``
  and the outputs equal torchvision's.

Both forms use ``ceil_mode`` max pools: without padding that is TF's SAME pooling on the even grids here
(112 -> 56 -> 28 -> 14 -> 7), so it is no difference between them.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .base import AuxHead, InceptionNet, ModelInfo
from .layers import ConvNormAct, concat_branches
from .registry import register_model
from .weights import rename_keys

ConvLayer = Callable[..., ConvNormAct]

__all__ = ["GoogLeNet", "GoogLeNetAux", "InceptionModule", "init_weights"]


def _tower(
    in_chs: int, reduce: int, width: int, kernels: tuple[int, ...], conv: ConvLayer, stride: int
) -> nn.Sequential:
    """1x1 reduction (omitted when ``reduce`` is 0) -> ``width``-wide square convs, the last one strided."""
    layers = [conv(in_chs, reduce, 1)] if reduce else []
    chs = reduce or in_chs
    for i, k in enumerate(kernels):
        layers.append(conv(chs, width, k, stride=stride if i == len(kernels) - 1 else 1, padding=k // 2))
        chs = width
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" tower | 3x3 pool -> 1x1 projection, concatenated (GoogLeNet Sec. 4, Fig. 2).

    The width arguments are the columns of GoogLeNet Table 1 and of the BN paper's Figure 5. A width of 0
    omits the layer: ``ch1x1=0`` drops the 1x1 branch (BN-Inception 3c, 4e); zero reductions give the naive
    module of Fig. 2(a); ``pool_proj=0`` passes the pooled input through.

    Args:
        conv: builds each conv (``ConvNormAct`` with or without BatchNorm).
        tower_kernels: the convs of the third branch, all ``ch5x5`` wide: ``(5,)`` in the paper, ``(3,)`` in
            torchvision / TF-slim, ``(3, 3)`` where BN-Inception and Rethinking Fig. 5 replace each 5x5 by two 3x3.
        pool: ``"max"`` or ``"avg"`` (the BN paper's "avg+32", "max+pass through").
        stride: 2 makes the last conv of the two towers and the pool stride 2 (BN-Inception 3c, 4e).
        count_include_pad: average pools divide by the padded window (PyTorch / torchvision) or by the
            valid part only (TF's SAME pooling).
    """

    def __init__(
        self,
        in_chs: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        conv: ConvLayer = ConvNormAct,
        tower_kernels: tuple[int, ...] = (5,),
        pool: str = "max",
        stride: int = 1,
        count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        if pool == "max":
            pool_layer: nn.Module = nn.MaxPool2d(3, stride=stride, padding=1)
        elif pool == "avg":
            pool_layer = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=count_include_pad)
        else:
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        branches = [conv(in_chs, ch1x1, 1)] if ch1x1 else []
        branches += [
            _tower(in_chs, ch3x3red, ch3x3, (3,), conv, stride),
            _tower(in_chs, ch5x5red, ch5x5, tower_kernels, conv, stride),
            nn.Sequential(pool_layer, conv(in_chs, pool_proj, 1)) if pool_proj else pool_layer,
        ]
        self.branches = nn.ModuleList(branches)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + (pool_proj or in_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return concat_branches(x, self.branches)


class GoogLeNetAux(AuxHead):
    """Auxiliary classifier: 5x5/3 average pool -> 1x1 conv 128 -> FC 1024 + ReLU -> dropout -> FC.

    GoogLeNet Sec. 5 puts it on 4a and 4d (14x14 maps -> ``grid`` 4, dropout 0.7); Rethinking Sec. 4 and
    Fig. 8 keep one on the last 17x17 layer (``grid`` 5), and its "BN-auxiliary" batch-normalizes the FC layer
    too (``fc_norm``). The FC layer takes exactly ``128 * grid * grid`` inputs: at the paper's input size the
    paper's 5x5/3 pool gives that grid; at any other size (small datasets, other resolutions) the head pools
    adaptively to the same grid, as torchvision always does (``adaptive_pool``), so training still works.
    """

    def __init__(
        self,
        in_chs: int,
        num_classes: int,
        *,
        grid: int,
        conv: ConvLayer = ConvNormAct,
        adaptive_pool: bool = False,
        fc_norm: bool = False,
        dropout: float = 0.7,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.adaptive_pool = adaptive_pool
        self.pool = nn.AdaptiveAvgPool2d(grid) if adaptive_pool else nn.AvgPool2d(5, stride=3)
        self.conv = conv(in_chs, 128, 1)
        self.fc1 = nn.Linear(128 * grid * grid, 1024, bias=not fc_norm)
        self.norm = nn.BatchNorm1d(1024, eps=1e-3) if fc_norm else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paper_grid = not self.adaptive_pool and all((size - 5) // 3 + 1 == self.grid for size in x.shape[-2:])
        x = self.pool(x) if paper_grid or self.adaptive_pool else F.adaptive_avg_pool2d(x, self.grid)  # N x C x grid x grid
        x = torch.flatten(self.conv(x), 1)  # N x 128 * grid * grid
        x = self.drop(self.act(self.norm(self.fc1(x))))  # N x 1024
        return self.fc(x)  # N x num_classes


def init_weights(model: nn.Module) -> None:
    """He-normal convs (fan-in: keeps the activations' scale through the BN-free paper GoogLeNet), N(0, 0.01)
    linear layers, zero biases; BatchNorm keeps PyTorch's unit scale."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
_TABLE1: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

# torchvision key -> ours: Inception.branch<k> is our branches.<k-1>; InceptionAux.fc2 is our fc.
_TORCHVISION_KEYS = (
    (r"\.branch([1-4])\.", lambda m: f".branches.{int(m[1]) - 1}."),
    (r"^(aux[12])\.fc2\.", r"\1.fc."),
)


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
        min_input_size=31,  # smallest input both forms run (torchvision form: 15); aux heads: see GoogLeNetAux
        aux_loss_weight=0.3,  # Sec. 5
        paper={
            "top1": 71.0, "top5": 90.8,  # Rethinking (arXiv:1512.00567) Table 3: 29.0% / 9.2% error, single crop;
            # the GoogLeNet paper's own Table 3 gives only top-5: 10.07% error (1 model, 1 crop)
            "params": 6.8e6,  # sum of Table 1's params column (Rethinking Sec. 1 says 5 million)
            "gmacs": 1.5,  # Sec. 1: "a computational budget of 1.5 billion multiply-adds"; Table 1 ops sum 1.502
            "source": "Szegedy et al. 2014, arXiv:1409.4842, Table 1 and Sec. 1; Szegedy et al. 2015, Table 3",
        },
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
        super().__init__(num_classes, dropout, aux_logits, transform_input)
        conv = partial(ConvNormAct, norm=norm)

        def local_response_norm() -> nn.Module:
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if lrn else nn.Identity()

        self.conv1 = conv(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = local_response_norm()
        self.conv2 = conv(64, 64, 1)
        self.conv3 = conv(64, 192, 3, padding=1)
        self.lrn2 = local_response_norm()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        in_chs = 192
        for name, widths in _TABLE1.items():
            module = InceptionModule(in_chs, *widths, conv=conv, tower_kernels=(tower_kernel,))
            self.add_module(f"inception{name}", module)
            in_chs = module.out_channels
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(pool4_kernel, stride=2, ceil_mode=True)
        if aux_logits:  # built only when on, so DDP sees no unused parameters with aux off
            aux = partial(GoogLeNetAux, num_classes=num_classes, grid=4, conv=conv, adaptive_pool=aux_adaptive_pool,
                          dropout=aux_dropout)
            self.aux1 = aux(self.inception4a.out_channels)
            self.aux2 = aux(self.inception4d.out_channels)
        self.fc = nn.Linear(in_chs, num_classes)
        init_weights(self)

    def _forward_body(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.lrn1(self.maxpool1(x))
        # N x 64 x 56 x 56
        x = self.conv2(x)
        # N x 64 x 56 x 56
        x = self.lrn2(self.conv3(x))
        # N x 192 x 56 x 56
        x = self.maxpool2(x)
        # N x 192 x 28 x 28
        x = self.inception3a(x)
        # N x 256 x 28 x 28
        x = self.inception3b(x)
        # N x 480 x 28 x 28
        x = self.maxpool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        if with_aux:
            aux.append(self.aux1(x))
        x = self.inception4b(x)
        # N x 512 x 14 x 14
        x = self.inception4c(x)
        # N x 512 x 14 x 14
        x = self.inception4d(x)
        # N x 528 x 14 x 14
        if with_aux:
            aux.append(self.aux2(x))
        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.maxpool4(x)
        # N x 832 x 7 x 7
        x = self.inception5a(x)
        # N x 832 x 7 x 7
        x = self.inception5b(x)
        # N x 1024 x 7 x 7
        return x, aux

    def remap_checkpoint(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename torchvision ``googlenet`` keys to ours; this project's own keys pass through unchanged."""
        return rename_keys(state_dict, _TORCHVISION_KEYS)
