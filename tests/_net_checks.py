"""What the network tests share: reference weights through the checkpoint import, stage shapes and MACs, and
the checks every constructor form must pass (channels_last, bf16 autocast, torch.compile, gradients)."""
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


# tests/test_net_common.py runs every registered model at its defaults in channels_last, under bf16 autocast and
# torch.compile, and through a training step with aux on and off. These do the same for the forms constructor
# options select.

def assert_every_parameter_gets_a_gradient(model: nn.Module, x: torch.Tensor) -> None:
    """What DDP without find_unused_parameters needs: a train-mode step reaches every parameter."""
    out = model.train()(x)
    loss = out[0].sum() + 0.3 * sum(a.sum() for a in out[1]) if isinstance(out, tuple) else out.sum()
    loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def assert_variant_works(model: nn.Module, x: torch.Tensor, train_x: torch.Tensor | None = None) -> None:
    """channels_last, bf16 autocast and torch.compile (aot_eager) agree with the eval forward on ``x``; then a
    train step on ``train_x`` (default ``x``; aux heads may need the full input size)."""
    torch._dynamo.reset()  # models share InceptionNet.forward: start from an empty compile cache
    model.eval()
    with torch.no_grad():
        expected = model(x)
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True, dynamic=False)(x)
        channels_last = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(x)
    torch.testing.assert_close(compiled, expected)
    torch.testing.assert_close(channels_last, expected, atol=1e-4, rtol=1e-4)
    assert bf16.dtype == torch.bfloat16
    torch.testing.assert_close(bf16.float(), expected, atol=0.1 * expected.abs().max().item(), rtol=0.05)
    assert_every_parameter_gets_a_gradient(model, x if train_x is None else train_x)
