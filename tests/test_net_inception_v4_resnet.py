"""Inception-v4 and Inception-ResNet-v1/v2: sizes, costs and stage shapes; timm checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from _net_checks import assert_same_outputs, count_params, import_reference, shapes_and_gmacs
from lightning_modules.zoo import create_model
from lightning_modules.zoo.inception_resnet import InceptionResNetBlock
from lightning_modules.zoo.inception_modules import ReductionA

# Parameters (1000 classes, no aux) and conv + linear GMACs at 299x299. v4 and IR-v2: timm's models
# (results-imagenet.csv param_count 42.68M / 55.84M; benchmark infer_gmacs 12.28 / 13.18, which count a
# little more than conv + linear). IR-v1 has no reference code: the figures are the reference rebuild of
# the paper's Figs. 14, 10, 7, 11-13, 15 (BN + ReLU on branch convs, biased linear 1x1 projection, no BN
# after the sum), which this implementation reproduces exactly. The paper states no counts for any of them.
EXPECTED = {
    "inception_v4": (42_679_816, 12.254),
    "inception_resnet_v2": (55_843_464, 13.156),
    "inception_resnet_v1": (22_756_328, 6.206),
}
# With the TF-slim aux head on the last 17x17 map (reference estimate: timm count + aux head).
PARAMS_WITH_AUX = {"inception_v4": 46_039_280, "inception_resnet_v2": 59_211_120}

# Stage outputs (H, W, C) at 299x299: v4 paper Fig. 3 / Fig. 9 / Table 1; IR-v1 Figs. 14, 15;
# IR-v2 as TF-slim's inception_resnet_v2.py end points.
STAGES = {
    "inception_v4": {
        "Conv2d_1a_3x3": (149, 149, 32), "Conv2d_2a_3x3": (147, 147, 32), "Conv2d_2b_3x3": (147, 147, 64),
        "Mixed_3a": (73, 73, 160), "Mixed_4a": (71, 71, 192), "Mixed_5a": (35, 35, 384),
        **{f"Mixed_5{c}": (35, 35, 384) for c in "bcde"}, "Mixed_6a": (17, 17, 1024),
        **{f"Mixed_6{c}": (17, 17, 1024) for c in "bcdefgh"}, "Mixed_7a": (8, 8, 1536),
        **{f"Mixed_7{c}": (8, 8, 1536) for c in "bcd"},
    },
    "inception_resnet_v1": {
        "Conv2d_1a_3x3": (149, 149, 32), "Conv2d_2a_3x3": (147, 147, 32), "Conv2d_2b_3x3": (147, 147, 64),
        "MaxPool_3a_3x3": (73, 73, 64), "Conv2d_3b_1x1": (73, 73, 80), "Conv2d_4a_3x3": (71, 71, 192),
        "Conv2d_4b_3x3": (35, 35, 256), "Repeat": (35, 35, 256), "Mixed_6a": (17, 17, 896),
        "Repeat_1": (17, 17, 896), "Mixed_7a": (8, 8, 1792), "Repeat_2": (8, 8, 1792),
    },
    "inception_resnet_v2": {
        "Conv2d_1a_3x3": (149, 149, 32), "Conv2d_2a_3x3": (147, 147, 32), "Conv2d_2b_3x3": (147, 147, 64),
        "MaxPool_3a_3x3": (73, 73, 64), "Conv2d_3b_1x1": (73, 73, 80), "Conv2d_4a_3x3": (71, 71, 192),
        "MaxPool_5a_3x3": (35, 35, 192), "Mixed_5b": (35, 35, 320), "Repeat": (35, 35, 320),
        "Mixed_6a": (17, 17, 1088), "Repeat_1": (17, 17, 1088), "Mixed_7a": (8, 8, 2080),
        "Repeat_2": (8, 8, 2080), "Block8": (8, 8, 2080), "Conv2d_7b_1x1": (8, 8, 1536),
    },
}
TIMM_NAMES = {"inception_v4": "inception_v4", "inception_resnet_v2": "inception_resnet_v2"}


@pytest.mark.parametrize("name", EXPECTED)
def test_parameters_macs_and_stage_shapes(name: str) -> None:
    params, gmacs = EXPECTED[name]
    model = create_model(name)
    assert count_params(model) == params
    shapes, measured = shapes_and_gmacs(model)
    assert {stage: (h, w, c) for stage, (c, h, w) in shapes.items()} == STAGES[name]
    assert round(measured, 3) == gmacs


@pytest.mark.parametrize("name", PARAMS_WITH_AUX)
def test_parameters_with_tf_slim_aux_head(name: str) -> None:
    assert count_params(create_model(name, aux_logits=True)) == PARAMS_WITH_AUX[name]


@pytest.mark.parametrize("name", TIMM_NAMES)
def test_timm_checkpoint(name: str, tmp_path: Path) -> None:
    assert_same_outputs(*import_reference(lambda: timm.create_model(TIMM_NAMES[name]), name, tmp_path))


def stage_scales(model: torch.nn.Module) -> list[set[float]]:
    return [{block.scale for block in getattr(model.features, stage)} for stage in ("Repeat", "Repeat_1", "Repeat_2")]


@pytest.mark.parametrize(("name", "default"), [
    ("inception_resnet_v2", (0.17, 0.10, 0.20)),  # TF-slim
    ("inception_resnet_v1", (0.1, 0.1, 0.1)),  # paper Fig. 20: "typically around 0.1"
])
def test_residual_scales(name: str, default: tuple[float, float, float]) -> None:
    assert stage_scales(create_model(name)) == [{scale} for scale in default]
    assert stage_scales(create_model(name, residual_scales=(0.3, 0.2, 0.1))) == [{0.3}, {0.2}, {0.1}]


def test_inception_resnet_v2_ends_with_an_unscaled_block_without_relu() -> None:
    """TF-slim: block8 x9 at scale 0.20, then one block8 with scale 1.0 and no activation."""
    model = create_model("inception_resnet_v2")
    assert [len(getattr(model.features, s)) for s in ("Repeat", "Repeat_1", "Repeat_2")] == [10, 20, 9]
    last = model.features.Block8
    assert isinstance(last, InceptionResNetBlock) and last.scale == 1.0 and isinstance(last.act, torch.nn.Identity)


def test_paper_inception_resnet_v2_widths_do_not_add_up() -> None:
    """Why v2 follows TF-slim: on the paper's 384-channel stem, Reduction-A (Fig. 7, k, l, m, n = 256, 256, 384,
    384) gives 1152 channels, not the 1154 that Fig. 17 projects back to."""
    with torch.no_grad():
        assert ReductionA(384, 256, 256, 384, 384).eval()(torch.zeros(1, 384, 35, 35)).shape[1] == 1152 != 1154
