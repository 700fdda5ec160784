"""Time our networks' CPU inference against the timm / torchvision implementation of the same architecture.

Each pair computes the same function: the reference gets random weights, which are saved and loaded into
ours through the checkpoint import (``create_model(..., weights=path)``), and the outputs must match. The
two then run in alternating rounds (who goes first swaps each round) on one input, batch size, thread
count and memory format, so drifts of the machine hit both alike. ``ours/ref`` is the ratio of the mean
times; ``paired`` the median of the per-round ratios, which a busy machine disturbs less.

    python -m tools.compare_reference [--models inception_v3 xception] [--batch-size 8] [--steps 10]
                                      [--burn-in 2] [--threads 2] [--channels-last]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import timm
import torch
import torchvision
from omegaconf import OmegaConf
from torch import nn

from lightning_modules.zoo import create_model
from lightning_modules.zoo.base import init_weights

CONF_DIR = Path(__file__).resolve().parent.parent / "conf" / "model"
NOT_OPTIONS = ("_target_", "name", "num_classes", "weights")

# (our model, config with our options, reference label, reference constructor); aux heads off on both sides.
PAIRS: list[tuple[str, str, str, Callable[[], nn.Module]]] = [
    ("googlenet_bn", "googlenet_bn", "torchvision googlenet",
     lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)),
    ("inception_v3", "inception_v3", "torchvision inception_v3",
     lambda: torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)),
    ("inception_v3", "inception_v3", "timm inception_v3", lambda: timm.create_model("inception_v3")),
    ("inception_v4", "inception_v4", "timm inception_v4", lambda: timm.create_model("inception_v4")),
    ("inception_resnet_v2", "inception_resnet_v2", "timm inception_resnet_v2",
     lambda: timm.create_model("inception_resnet_v2")),
    ("xception", "xception", "timm legacy_xception", lambda: timm.create_model("legacy_xception")),
]


def our_options(config: str) -> dict[str, object]:
    """Constructor options from ``conf/model/<config>.yaml``; aux heads and input transform off, as the reference."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / f"{config}.yaml"))
    options = {k: v for k, v in cfg.items() if k not in NOT_OPTIONS}
    options.update({k: False for k in ("aux_logits", "transform_input") if k in options})
    return options


def build_pair(name: str, config: str, reference: nn.Module, workdir: Path) -> nn.Module:
    """Our ``name`` with ``reference``'s weights, through the checkpoint import.

    The reference is first re-initialised as our models are (He-normal convs, N(0, 0.01) linear), so the
    activations stay O(1): timm's Inception-v3 init lets them reach 1e12, where timings mean little.
    """
    init_weights(reference)
    path = workdir / f"{name}.pt"
    torch.save(reference.state_dict(), path)
    return create_model(name, weights=str(path), **our_options(config))


def time_alternating(models: tuple[nn.Module, nn.Module], x: torch.Tensor, steps: int, burn_in: int) -> np.ndarray:
    """Seconds per forward, shape (2, steps): both models each round, the first of them alternating."""
    times = np.zeros((2, burn_in + steps))
    with torch.inference_mode():
        for round_ in range(burn_in + steps):
            for i in (0, 1) if round_ % 2 == 0 else (1, 0):
                start = time.perf_counter()
                models[i](x)
                times[i, round_] = time.perf_counter() - start
    return times[:, burn_in:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted({p[0] for p in PAIRS}), help="default: every pair")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="timed rounds")
    parser.add_argument("--burn-in", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f"batch {args.batch_size}, {args.steps} rounds after {args.burn_in} burn-in, {torch.get_num_threads()} "
          f"threads, {'channels_last' if args.channels_last else 'contiguous'}; torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, timm {timm.__version__}")
    header = (f"{'model':<20} {'reference':<26} {'ours s/batch':>17} {'ref s/batch':>17} {'ours/ref':>8} "
              f"{'paired':>7}")
    print(f"{header}\n{'-' * len(header)}")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        for name, config, label, make_reference in PAIRS:
            if args.models and name not in args.models:
                continue
            if not (CONF_DIR / f"{config}.yaml").is_file():
                print(f"{name:<20} {label:<26} skipped: conf/model/{config}.yaml not found")
                continue
            reference = make_reference()
            ours = build_pair(name, config, reference, Path(workdir))
            pair = tuple(m.eval().to(memory_format=memory_format) for m in (ours, reference))
            size = ours.info.default_input_size
            x = torch.randn(args.batch_size, 3, size, size).to(memory_format=memory_format)
            with torch.inference_mode():
                torch.testing.assert_close(pair[0](x), pair[1](x), rtol=1e-4, atol=1e-4)
            ours_t, ref_t = time_alternating(pair, x, args.steps, args.burn_in)
            print(f"{name:<20} {label:<26} {ours_t.mean():>8.4f} ± {ours_t.std():.4f} "
                  f"{ref_t.mean():>8.4f} ± {ref_t.std():.4f} {ours_t.mean() / ref_t.mean():>8.3f} "
                  f"{np.median(ours_t / ref_t):>7.3f}")


if __name__ == "__main__":
    main()
