"""The uniform API every classifier of the zoo shares, and the facts each declares about itself.

Every network is an ``InceptionNet``: a body of named stages (``features``), auxiliary heads that tap stages
named as data, global pooling, dropout and a linear classifier. Published figures (accuracy, parameters,
GMACs) are not kept here: they live, with their sources, outside the zoo (``bench/reference.py``).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .checkpoint import KeyRule
from .heads import AuxHead
from .layers import Stage

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

# Builds an aux head for ``num_classes`` outputs, e.g. ``partial(InceptionAux, 768)``.
AuxFactory = Callable[[int], AuxHead]


@dataclass(frozen=True)
class ModelInfo:
    """What a model declares about its input and its evaluation transform."""

    default_input_size: int
    min_input_size: int
    in_chans: int = 3
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    aux_loss_weight: float = 0.0


def validate_input(x: torch.Tensor, info: ModelInfo, name: str) -> None:
    """Raise a ValueError naming ``name`` unless ``x`` is N x in_chans x H x W with H, W >= min_input_size."""
    if x.dim() != 4 or x.shape[1] != info.in_chans:
        raise ValueError(f"{name} expects N x {info.in_chans} x H x W input, got {tuple(x.shape)}")
    if min(x.shape[-2:]) < info.min_input_size:
        raise ValueError(
            f"{name} needs inputs of at least {info.min_input_size}x{info.min_input_size}, "
            f"got {x.shape[-2]}x{x.shape[-1]}"
        )


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


class InceptionNet(nn.Module):
    """Named stages -> global average pool -> dropout -> linear; logits in eval, ``(logits, aux_logits)`` in
    training when aux heads are on.

    Subclasses pass their stages (TF-slim / torchvision end-point names where a reference exists), the width
    of the last one, and ``aux_heads``: stage name -> a factory ``num_classes -> AuxHead``. Heads are built
    only with ``aux_logits`` (so DDP sees no unused parameters with aux off), live in ``self.aux_heads`` under
    the name of the stage they tap, and return their logits in stage order. Subclasses with reference weights
    list ``checkpoint_rules()`` (see ``checkpoint.py``).

    Args:
        stages: the body, in order.
        num_features: channels of the last stage's output (the classifier's input).
        num_classes: classifier outputs.
        dropout: before the classifier.
        aux_heads: the heads the architecture can tap, by stage name.
        aux_logits: build the heads; training then returns their logits too.
        transform_input: map ImageNet-normalised input to the (x - 0.5) / 0.5 scale of TF-ported weights.
    """

    info: ClassVar[ModelInfo]

    def __init__(
        self,
        stages: Sequence[Stage],
        num_features: int,
        num_classes: int,
        dropout: float,
        *,
        aux_heads: Mapping[str, AuxFactory] | None = None,
        aux_logits: bool = False,
        transform_input: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_features = num_features
        self.transform_input = transform_input
        self.features = nn.Sequential(OrderedDict(stages))
        taps = dict(aux_heads or {}) if aux_logits else {}
        if unknown := sorted(set(taps) - set(self.features._modules)):
            raise ValueError(f"aux heads tap stages {unknown} that {type(self).__name__} does not have")
        self.aux_heads = nn.ModuleDict({stage: make(num_classes) for stage, make in taps.items()})
        self.aux_logits = bool(self.aux_heads)
        self.aux_weights_loaded = True  # load_checkpoint sets False when it leaves the aux heads at their init
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(dropout)
        self.fc = nn.Linear(num_features, num_classes)
        init_weights(self)

    def check_input(self, x: torch.Tensor) -> None:
        validate_input(x, self.info, type(self).__name__)

    def _apply_transform_input(self, x: torch.Tensor) -> torch.Tensor:
        """Map ImageNet-mean/std-normalised input to the (x - 0.5) / 0.5 scale of TF-ported weights (torchvision)."""
        if not self.transform_input:
            return x
        channels = [
            x[:, c : c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5 for c in range(3)
        ]
        return torch.cat(channels, dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self._apply_transform_input(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)  # N x C
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        self.check_input(x)
        x = self._apply_transform_input(x)
        if not (self.training and self.aux_logits):
            return self.forward_head(self.features(x))
        aux = []
        for name, stage in self.features.named_children():
            x = stage(x)
            if name in self.aux_heads:
                aux.append(self.aux_heads[name](x))
        return self.forward_head(x), tuple(aux)

    def get_classifier(self) -> nn.Linear:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier and every aux head's classifier with fresh ``num_classes``-way layers."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.fc.in_features, num_classes)
        for head in self.aux_heads.values():
            head.fc = nn.Linear(head.fc.in_features, num_classes)

    def drop_aux_heads(self) -> None:
        """Remove the auxiliary classifiers (inference, or weights that had none): training returns logits only."""
        self.aux_heads = nn.ModuleDict()
        self.aux_logits = False

    def checkpoint_rules(self) -> list[KeyRule]:
        """``(pattern, replacement)`` pairs applied in order by ``re.sub`` to each key of a reference checkpoint."""
        return []
