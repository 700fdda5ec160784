"""Inception-v3: sizes, costs and stage shapes against published figures; torchvision / timm checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torchvision

from _net_checks import assert_same_outputs, count_params, import_reference, shapes_and_gmacs
from lightning_modules.zoo import create_model
from lightning_modules.zoo.checkpoint import CheckpointMismatchError

# torchvision 0.29 Inception_V3_Weights meta num_params (with aux); without aux: timm / torchvision count.
PARAMS_WITH_AUX = 27_161_264
PARAMS_NO_AUX = 23_834_568
# Xception paper (arXiv:1610.02357) Table 3 gives 23,626,728 for its Inception V3 (no aux, no FC layers):
# 207,840 fewer than the released layout; the cause is not stated.
XCEPTION_PAPER_V3_PARAMS = 23_626_728
GMACS = 5.713  # torchvision meta _ops (conv + linear MACs at 299x299)

# TF-slim inception_v3.py end-point table (seed 000): H, W, C of each stage for a 299x299 input.
TF_SLIM_STAGES = {
    "Conv2d_1a_3x3": (149, 149, 32), "Conv2d_2a_3x3": (147, 147, 32), "Conv2d_2b_3x3": (147, 147, 64),
    "MaxPool_3a_3x3": (73, 73, 64), "Conv2d_3b_1x1": (73, 73, 80), "Conv2d_4a_3x3": (71, 71, 192),
    "MaxPool_5a_3x3": (35, 35, 192), "Mixed_5b": (35, 35, 256), "Mixed_5c": (35, 35, 288),
    "Mixed_5d": (35, 35, 288), "Mixed_6a": (17, 17, 768), "Mixed_6b": (17, 17, 768), "Mixed_6c": (17, 17, 768),
    "Mixed_6d": (17, 17, 768), "Mixed_6e": (17, 17, 768), "Mixed_7a": (8, 8, 1280), "Mixed_7b": (8, 8, 2048),
    "Mixed_7c": (8, 8, 2048),
}


def timm_inception_v3() -> torch.nn.Module:
    return timm.create_model("inception_v3")  # no aux head


def test_parameter_counts_match_torchvision() -> None:
    assert count_params(create_model("inception_v3", aux_logits=True)) == PARAMS_WITH_AUX
    no_aux = count_params(create_model("inception_v3", aux_logits=False))
    assert no_aux == PARAMS_NO_AUX
    assert no_aux < 25e6  # Rethinking abstract: "less than 25 million parameters"
    assert no_aux - XCEPTION_PAPER_V3_PARAMS == 207_840


def test_stage_shapes_follow_tf_slim_and_macs_match_torchvision() -> None:
    shapes, gmacs = shapes_and_gmacs(create_model("inception_v3", aux_logits=False))
    assert {name: (h, w, c) for name, (c, h, w) in shapes.items()} == TF_SLIM_STAGES
    assert round(gmacs, 3) == GMACS


def test_aux_head_shapes_follow_tf_slim() -> None:
    """Seed 000: avg pool 5x5/3 -> 5x5x768 -> 1x1 conv 128 -> 5x5 conv 768 -> logits."""
    head = create_model("inception_v3", num_classes=10).aux_heads["Mixed_6e"].eval()
    seen = []
    for conv in (head.conv0, head.conv1):
        conv.register_forward_hook(lambda _m, args, out: seen.append((tuple(args[0].shape[1:]), tuple(out.shape[1:]))))
    with torch.no_grad():
        assert head(torch.randn(1, 768, 17, 17)).shape == (1, 10)
    assert seen == [((768, 5, 5), (128, 5, 5)), ((128, 5, 5), (768, 1, 1))]


def test_torchvision_checkpoint_with_transform_input_and_aux(tmp_path: Path) -> None:
    options = {"aux_logits": True, "transform_input": True, "dropout": 0.0}
    ours, reference = import_reference(
        lambda: torchvision.models.inception_v3(weights=None, init_weights=False, **options),
        "inception_v3", tmp_path, **options,
    )
    assert_same_outputs(ours, reference)
    # Training mode: batch statistics, and the aux head's logits too.
    x = torch.randn(2, 3, 299, 299)
    (logits, (aux,)), expected = ours.train()(x), reference.train()(x)
    torch.testing.assert_close(logits, expected.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(aux, expected.aux_logits, rtol=1e-4, atol=1e-5)


def test_timm_checkpoint(tmp_path: Path) -> None:
    assert_same_outputs(*import_reference(timm_inception_v3, "inception_v3", tmp_path, aux_logits=False))


def test_checkpoint_without_aux_loads_around_the_aux_head(tmp_path: Path) -> None:
    """timm's weights have no aux head: ours keeps its initialisation (drop_aux_heads() removes it)."""
    torch.manual_seed(0)
    fresh = create_model("inception_v3").aux_heads.state_dict()
    torch.manual_seed(0)
    ours, reference = import_reference(timm_inception_v3, "inception_v3", tmp_path, aux_logits=True)
    assert not ours.aux_weights_loaded and list(ours.aux_heads) == ["Mixed_6e"]
    assert all(torch.equal(v, fresh[k]) for k, v in ours.aux_heads.state_dict().items())
    assert_same_outputs(ours, reference)
    ours.drop_aux_heads()
    assert not ours.aux_logits and count_params(ours) == PARAMS_NO_AUX


def test_checkpoint_without_aux_still_fails_on_any_other_mismatch(tmp_path: Path) -> None:
    state = {k: v for k, v in create_model("inception_v3").state_dict().items() if not k.startswith("aux_heads.")}
    del state["fc.bias"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(CheckpointMismatchError, match=r"missing keys: fc\.bias; unexpected keys: none"):
        create_model("inception_v3", weights=str(tmp_path / "partial.pt"))


def test_checkpoint_aux_weights_are_dropped_when_aux_is_off(tmp_path: Path) -> None:
    ours, reference = import_reference(
        lambda: torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False),
        "inception_v3", tmp_path, aux_logits=False,
    )
    assert not ours.aux_heads
    torch.testing.assert_close(ours.features.Mixed_7c.branches[1][1].branches[0].conv.weight,
                               reference.Mixed_7c.branch3x3_2a.conv.weight)


def test_small_inputs_train_only_with_aux_off() -> None:
    model = create_model("inception_v3", num_classes=10).train()
    with pytest.raises(ValueError, match="aux_logits=False"):
        model(torch.randn(2, 3, 75, 75))
    logits = create_model("inception_v3", num_classes=10, aux_logits=False).train()(torch.randn(2, 3, 75, 75))
    assert logits.shape == (2, 10)
    assert model.info.aux_loss_weight == 0.4  # TF-slim train_image_classifier.py
