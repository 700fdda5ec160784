"""ClassifierModule: losses, top-k metrics, lr schedule, multi-crop averaging."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.classifier import ClassifierModule, lr_factor
from tiny_net import TinyInception

OPTIM = {"optimizer": {"_target_": "torch.optim.SGD", "lr": 0.1}}


def _module(**kwargs: object) -> ClassifierModule:
    return ClassifierModule(TinyInception(num_classes=10), optim=OPTIM, num_classes=10, model_name="tiny_test", **kwargs)


def test_topk_accuracy_matches_hand_count() -> None:
    module = _module()
    scores = torch.tensor([[0.9, 0.05, 0.05, 0, 0, 0, 0, 0, 0, 0],  # label 0: top-1 hit
                           [0.5, 0.1, 0.4, 0, 0, 0, 0, 0, 0, 0],    # label 2: 2nd -> top-5 hit only
                           [0.6, 0.1, 0.09, 0.08, 0.07, 0.06, 0, 0, 0, 0]])  # label 5: 6th -> miss
    labels = torch.tensor([0, 2, 5])
    assert module.metrics["val_top1"](scores, labels).item() == pytest.approx(1 / 3)
    assert module.metrics["val_top5"](scores, labels).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("override, expected_weight", [(None, 0.3), (1.0, 1.0)])
def test_loss_adds_weighted_aux_losses_with_label_smoothing(override: float | None, expected_weight: float) -> None:
    module = _module(label_smoothing=0.1, aux_loss_weight=override)
    logits, aux, y = torch.randn(4, 10), torch.randn(4, 10), torch.tensor([1, 2, 3, 4])
    _, loss = module.loss((logits, (aux,)), y)
    expected = F.cross_entropy(logits, y, label_smoothing=0.1) + expected_weight * F.cross_entropy(aux, y, label_smoothing=0.1)
    assert loss.item() == pytest.approx(expected.item())
    assert module.loss(logits, y)[1].item() == pytest.approx(F.cross_entropy(logits, y, label_smoothing=0.1).item())


def test_lr_schedule_warmup_then_staircase_decay() -> None:
    # RMSProp recipe: x0.94 every 2 epochs; 10 steps per epoch, 1 warm-up epoch
    factor = [lr_factor(s, steps_per_epoch=10, warmup_epochs=1, decay_epochs=2, gamma=0.94) for s in range(60)]
    assert factor[0] == pytest.approx(0.1) and factor[9] == 1.0
    assert factor[19] == 1.0 and factor[20] == pytest.approx(0.94) and factor[45] == pytest.approx(0.94**2)
    assert lr_factor(123, steps_per_epoch=10) == 1.0


def test_multicrop_probabilities_are_the_mean_softmax_of_the_views() -> None:
    module = _module()
    module.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10)).eval()
    x = torch.randn(2, 6, 3, 4, 4)  # 2 images x 6 views
    probs = module.predict_proba(x)
    expected = torch.stack([module.net(x[i]).softmax(-1).mean(0) for i in range(2)])
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(2)) and not math.isnan(probs.sum().item())
