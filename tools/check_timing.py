"""Timing honesty check: the harness's mean s/batch against a minimal hand-written loop.

Both time the same module on the same input in the same process, alternating in rounds so drift in
machine load hits both alike. The harness must agree with the hand loop within a few percent:

    python -m tools.check_timing --model googlenet --batch-size 8 --steps 30 --rounds 4

The layout is NHWC (channels_last) by default, as the benchmark's default; ``--no-channels-last`` checks NCHW.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from bench.benchmark.workload import make_step
from bench.benchmark.timing import summarize, time_steps
from lightning_modules.zoo import create_model, list_models


def hand_loop(model: torch.nn.Module, x: torch.Tensor, steps: int, burn_in: int) -> float:
    """The plainest honest loop: burn in, then wall-clock ``steps`` inference forwards."""
    with torch.inference_mode():
        for _ in range(burn_in):
            model(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="googlenet", choices=list_models())
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--burn-in", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="NHWC as the benchmark's default (bench.channels_last=true)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = create_model(args.model).eval().to(memory_format=memory_format)
    size = args.input_size or model.info.default_input_size
    x = torch.randn(args.batch_size, model.info.in_chans, size, size).to(memory_format=memory_format)
    harness_step = make_step(model, x, "forward", contextlib.nullcontext())
    device = torch.device("cpu")
    print(f"{args.model}, batch {args.batch_size}, {size}x{size}, {'NHWC' if args.channels_last else 'NCHW'}, "
          f"{torch.get_num_threads()} threads, "
          f"{args.steps} steps x {args.rounds} rounds (torch {torch.__version__})")
    harness, hand = [], []
    for round_ in range(args.rounds):
        harness.append(summarize(time_steps(harness_step, device, args.steps, args.burn_in, log_every=0), 1)["mean_s"])
        hand.append(hand_loop(model, x, args.steps, args.burn_in))
        print(f"round {round_}: harness {harness[-1]:.4f} s/batch, hand loop {hand[-1]:.4f} s/batch, "
              f"ratio {harness[-1] / hand[-1]:.3f}")
    ratio = statistics.mean(harness) / statistics.mean(hand)
    print(f"harness {statistics.mean(harness):.4f} s/batch vs hand loop {statistics.mean(hand):.4f} s/batch: "
          f"ratio {ratio:.3f} ({'within' if abs(ratio - 1) <= 0.03 else 'OUTSIDE'} 3%)")


if __name__ == "__main__":
    main()
