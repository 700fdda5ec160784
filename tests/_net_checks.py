"""Helpers for the network tests: reference weights through the checkpoint import, stage shapes and MACs."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightning_modules.zoo import create_model


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every weight and BN statistic with random values (a swapped tensor shows), activations kept O(1)."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(t: torch.Tensor, low: float, high: float) -> None:
        t.copy_(torch.rand(t.shape, generator=generator) * (high - low) + low)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = (2 / m.weight[0].numel()) ** 0.5 if isinstance(m, nn.Conv2d) else 0.01
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * std)
                if m.bias is not None:
                    uniform(m.bias, -0.1, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.1, 0.1)
                uniform(m.running_mean, -0.1, 0.1)
                uniform(m.running_var, 0.5, 1.5)
                m.num_batches_tracked.zero_()
    return model


def build_reference(build: Callable[[], nn.Module]) -> nn.Module:
    """A timm / torchvision model with random weights, built on the meta device to skip its slow init."""
    with torch.device("meta"):
        model = build()
    return randomize(model.to_empty(device="cpu")).eval()


def import_reference(
    build: Callable[[], nn.Module], name: str, tmp_path: Path, **options: object,
) -> tuple[nn.Module, nn.Module]:
    """A random reference and our ``name`` loaded from its saved state_dict with ``weights=``."""
    reference = build_reference(build)
    path = tmp_path / f"{name}.pt"
    torch.save(reference.state_dict(), path)
    return create_model(name, weights=str(path), **options), reference


def assert_same_outputs(ours: nn.Module, reference: nn.Module, size: int = 299, batch: int = 1) -> None:
    """Eval-mode logits agree to ~1e-5 relative on one random input."""
    ours.eval()
    reference.eval()
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = reference(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


def shapes_and_gmacs(model: nn.Module, size: int = 299) -> tuple[dict[str, tuple[int, int, int]], float]:
    """Each named stage's output (C, H, W) and the conv + linear GMACs (FlopCounterMode FLOPs / 2), one eval pass."""
    shapes: dict[str, tuple[int, int, int]] = {}
    hooks = [
        stage.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, stage in model.features.named_children()
    ]
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model.eval()(torch.zeros(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return shapes, counter.get_total_flops() / 2e9


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
