"""Time our networks' CPU inference against the timm / torchvision implementation of the same architecture.

Each pair computes the same function: the reference gets random weights, which are saved and loaded into
ours through the checkpoint import (``create_model(..., weights=path)``), and the outputs must match. The
two then run in alternating rounds (who goes first swaps each round) on one input, batch size, thread
count and memory format, so drifts of the machine hit both alike.

    python -m bench.compare_reference [--models inception_v3 xception] [--batch-size 8] [--steps 10]
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

from lightning_modules.nets import create_model

CONF_DIR = Path(__file__).resolve().parent.parent / "conf" / "model"
NOT_OPTIONS = ("_target_", "name", "num_classes", "weights")

# (our model, config holding our options, reference label, reference constructor); aux heads off on both sides.
PAIRS: list[tuple[str, str, str, Callable[[], nn.Module]]] = [
    ("googlenet", "googlenet_bn", "torchvision googlenet",
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
    """Constructor options from ``conf/model/<config>.yaml``, with aux heads and input transform off as in the reference."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / f"{config}.yaml"))
    options = {k: v for k, v in cfg.items() if k not in NOT_OPTIONS}
    options.update({k: False for k in ("aux_logits", "transform_input") if k in options})
    return options


def randomize(model: nn.Module) -> nn.Module:
    """He-normal convolutions, small linear weights: activations stay O(1), far from overflow and denormals."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
    return model


def build_pair(name: str, config: str, make_reference: Callable[[], nn.Module], workdir: Path) -> tuple[nn.Module, nn.Module]:
    reference = randomize(make_reference()).eval()
    path = workdir / f"{name}.pt"
    torch.save(reference.state_dict(), path)
    ours = create_model(name, weights=str(path), **our_options(config)).eval()
    return ours, reference


def time_alternating(models: tuple[nn.Module, nn.Module], x: torch.Tensor, steps: int, burn_in: int) -> list[list[float]]:
    """Seconds per forward of each model, run in ``steps`` rounds whose order alternates."""
    times: list[list[float]] = [[], []]
    with torch.inference_mode():
        for round_ in range(burn_in + steps):
            for i in ((0, 1) if round_ % 2 == 0 else (1, 0)):
                start = time.perf_counter()
                models[i](x)
                if round_ >= burn_in:
                    times[i].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="our model names (default: every pair)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="timed rounds")
    parser.add_argument("--burn-in", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args(argv)
    pairs = [p for p in PAIRS if args.models is None or p[0] in args.models]
    if args.models and (unknown := set(args.models) - {p[0] for p in PAIRS}):
        parser.error(f"no reference pair for {sorted(unknown)}; choices: {sorted({p[0] for p in PAIRS})}")
    if args.threads:
        torch.set_num_threads(args.threads)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f"batch {args.batch_size}, {args.steps} rounds (+{args.burn_in} burn-in), {torch.get_num_threads()} threads, "
          f"{'channels_last' if args.channels_last else 'contiguous'}, torch {torch.__version__}, timm {timm.__version__}, "
          f"torchvision {torchvision.__version__}")
    header = f"{'model':<20} {'reference':<26} {'ours s/batch':>16} {'ref s/batch':>16} {'ours/ref':>8}"
    print(header + "\n" + "-" * len(header))
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        for name, config, label, make_reference in pairs:
            if not (CONF_DIR / f"{config}.yaml").is_file():
                print(f"{name:<20} {label:<26} skipped: conf/model/{config}.yaml not found")
                continue
            ours, reference = (m.to(memory_format=memory_format) for m in build_pair(name, config, make_reference, Path(workdir)))
            size = ours.info.default_input_size
            x = torch.randn(args.batch_size, 3, size, size).to(memory_format=memory_format)
            with torch.inference_mode():
                torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)
            ours_t, ref_t = (np.asarray(t) for t in time_alternating((ours, reference), x, args.steps, args.burn_in))
            print(f"{name:<20} {label:<26} {ours_t.mean():>8.4f} ± {ours_t.std():.4f} {ref_t.mean():>8.4f} ± {ref_t.std():.4f}"
                  f" {ours_t.mean() / ref_t.mean():>8.3f}")


if __name__ == "__main__":
    main()
