"""Xception: size against the paper, cost, stage shapes; timm legacy_xception checkpoints."""
from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from _net_checks import assert_same_outputs, count_params, import_reference, shapes_and_gmacs
from lightning_modules.zoo import create_model

PAPER_PARAMS = 22_855_952  # Xception paper (arXiv:1610.02357) Table 3; timm legacy_xception counts the same
GMACS = 8.357  # conv + linear MACs at 299x299 (timm benchmark infer_gmacs 8.4)
# (H, W, C) of each stage at 299x299: entry flow, middle flow x8, exit flow (Keras / timm layer shapes).
STAGES = {
    "conv1": (149, 149, 32), "conv2": (147, 147, 64), "block1": (74, 74, 128), "block2": (37, 37, 256),
    "block3": (19, 19, 728), **{f"block{i}": (19, 19, 728) for i in range(4, 12)}, "block12": (10, 10, 1024),
    "conv3": (10, 10, 1536), "conv4": (10, 10, 2048),
}


def test_parameters_macs_and_stage_shapes() -> None:
    model = create_model("xception")
    assert count_params(model) == PAPER_PARAMS
    shapes, gmacs = shapes_and_gmacs(model)
    assert {stage: (h, w, c) for stage, (c, h, w) in shapes.items()} == STAGES
    assert round(gmacs, 3) == GMACS


def test_36_convolution_layers() -> None:
    """Paper Sec. 3: 36 convolutional layers (a separable conv counted once; 1x1 shortcuts not counted)."""
    convs = [m for m in create_model("xception").modules() if isinstance(m, nn.Conv2d)]
    spatial = [m for m in convs if m.kernel_size != (1, 1)]  # the stem convs and the depthwise halves
    assert len(spatial) == 36
    assert sum(m.groups > 1 for m in convs) == 34


def test_timm_checkpoint(tmp_path: Path) -> None:
    assert_same_outputs(*import_reference(lambda: timm.create_model("legacy_xception"), "xception", tmp_path))


def test_bn_eps_option() -> None:
    assert {m.eps for m in create_model("xception").modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}
    assert {m.eps for m in create_model("xception", bn_eps=1e-3).modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}


def test_no_aux_head() -> None:
    model = create_model("xception", num_classes=10).train()
    logits = model(torch.randn(2, 3, 71, 71))
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 10)
