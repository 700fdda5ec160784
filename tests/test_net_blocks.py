"""The seed documents' building blocks: their cost arithmetic reproduced by FlopCounterMode, and the model contract.

Figures copied here with their sources (tests do not read shared/):
* seed 001 (GoogLeNet's Inception module on a 28x28x192 input): the naive 5x5 branch costs
  (28 x 28 x 32) x (5 x 5 x 192) ~ 120M multiplies, the 16-channel 1x1 reduction brings it to
  (28 x 28 x 32) x (5 x 5 x 16) + (28 x 28 x 16) x 192 ~ 12.4M.
* GoogLeNet Table 1 (arXiv:1409.4842), inception (3a): 159K params, 128M ops.
* seed 002 / Rethinking (arXiv:1512.00567) Sec. 3.1: two 3x3 instead of a 5x5 cost (9 + 9) / 25, a 28% saving;
  Sec. 3.2: 1 x n then n x 1 instead of n x n (n = 7 on 17x17); Sec. 5 / Fig. 9-10: 35x35x320 -> 17x17x640,
  conv-then-pool 2 d^2 k^2 vs pool-then-conv 2 (d/2)^2 k^2 (per kernel tap), the parallel form (d/2)^2 k^2.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from _net_checks import assert_variant_works
from bench.benchmark.flops import count_flops
from lightning_modules.zoo import create_model, get_model_info

# name, options -> output C x H x W, MACs at the default input (the blocks.py table)
BLOCKS = {
    ("inception_module_naive", ()): ((416, 28, 28), 303_464_448),
    ("inception_module_reduced", ()): ((256, 28, 28), 128_049_152),
    ("block_conv5x5", ()): ((192, 35, 35), 1_128_960_000),
    ("block_two_conv3x3", ()): ((192, 35, 35), 812_851_200),
    ("block_conv_nxn", ()): ((192, 17, 17), 522_031_104),
    ("block_conv_1xn_nx1", ()): ((192, 17, 17), 149_151_744),
    ("grid_reduction_naive", ()): ((640, 17, 17), 2_257_920_000),
    ("grid_reduction_naive", (("pool_first", True),)): ((640, 17, 17), 532_684_800),
    ("grid_reduction_parallel", ()): ((640, 17, 17), 266_342_400),
}


def default_input(name: str, device: str = "meta", size: int | None = None) -> torch.Tensor:
    info = get_model_info(name)
    size = size or info.default_input_size
    return torch.randn(1, info.in_chans, size, size, device=device)


def macs(module: nn.Module, x: torch.Tensor) -> int:
    return count_flops(lambda: module(x)) // 2


def meta_block(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


@pytest.mark.parametrize(("name", "options"), list(BLOCKS))
def test_block_shapes_and_macs(name: str, options: tuple) -> None:
    shape, expected = BLOCKS[name, options]
    model = meta_block(name, **dict(options))
    x = default_input(name)
    assert tuple(model(x).shape[1:]) == shape
    assert macs(model, x) == expected


def test_seed_001_arithmetic() -> None:
    """The 5x5 branch alone, naive vs behind a 16-channel 1x1 reduction (branch 2 of each module)."""
    x = default_input("inception_module_naive")
    naive = meta_block("inception_module_naive").block.branches[2]
    reduced = meta_block("inception_module_reduced").block.branches[2]
    assert macs(naive, x) == (28 * 28 * 32) * (5 * 5 * 192) == 120_422_400  # "~120M"
    assert macs(reduced, x) == (28 * 28 * 32) * (5 * 5 * 16) + (28 * 28 * 16) * 192 == 12_443_648  # "~12.4M"
    # the whole reduced module is GoogLeNet's 3a: Table 1 prints 128M ops and 159K params, K = 1024 (weights only)
    module = meta_block("inception_module_reduced")
    assert round(macs(module, x) / 1e6) == 128
    weights = sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))
    assert weights == 163_328 and weights / 1024 == pytest.approx(159, abs=0.5)


def cost(name: str, **kwargs: object) -> int:
    return BLOCKS[name, tuple(kwargs.items())][1]


def test_rethinking_cost_ratios() -> None:
    assert cost("block_two_conv3x3") / cost("block_conv5x5") == pytest.approx((9 + 9) / 25)  # 28% cheaper
    assert cost("block_conv_1xn_nx1") / cost("block_conv_nxn") == pytest.approx(2 / 7)  # (n + n) / n^2, n = 7
    d, k = 35, 320  # Sec. 5: d x d x k -> d/2 x d/2 x 2k; the 3x3 kernels add a factor of 9
    assert cost("grid_reduction_naive") == 2 * d**2 * k**2 * 9
    assert cost("grid_reduction_naive", pool_first=True) == 2 * (d // 2) ** 2 * k**2 * 9  # 17x17 stands for d/2
    assert cost("grid_reduction_parallel") == (d // 2) ** 2 * k**2 * 9
    assert cost("grid_reduction_parallel") * 2 == cost("grid_reduction_naive", pool_first=True)


@pytest.mark.parametrize("name", sorted({name for name, _ in BLOCKS}))
def test_bad_inputs_raise_clear_errors(name: str) -> None:
    model = meta_block(name)
    info = get_model_info(name)
    with pytest.raises(ValueError, match=f"{name} expects N x {info.in_chans} x H x W input"):
        model(torch.empty(1, 3, info.default_input_size, info.default_input_size, device="meta"))
    too_small = info.min_input_size - 1
    with pytest.raises(ValueError, match=f"{name} needs inputs of at least {info.min_input_size}x"):
        model(default_input(name, size=too_small))


# Each block's defaults run through tests/test_net_common.py; this is the other form.

def test_pool_first_grid_reduction_works_everywhere() -> None:
    torch.manual_seed(0)
    assert_variant_works(create_model("grid_reduction_naive", pool_first=True), default_input("grid_reduction_naive",
                                                                                              device="cpu", size=9))


def test_bf16_autocast_covers_pass_through_branches() -> None:
    """The pooled input a naive module concatenates is cast with it: the block computes as inside a bf16 network."""
    model = create_model("inception_module_naive").eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(default_input("inception_module_naive", device="cpu", size=8)).dtype == torch.bfloat16
