"""Every CUDA path of the harness once, and Inception throughput at the limit beside timm (issue 13).

    python -m tools.gpu_suite --out DIR [--device cuda|cpu] [--tiny] [--budget-s 480] [--parts a,b]
                              [--timm-script PATH]

Runs the harness through its public entry points (``run.py`` as a user would, and ``run.run_task`` on
configs composed from ``conf/``) and writes into DIR: each job's record under ``jobs/``, every row in
``records.jsonl``, tracebacks in ``errors.log`` and ``summary.md`` (rewritten after each job). Each job is
guarded: a failure is recorded and the suite goes on. Parts run in priority order; a job whose estimated
time no longer fits the budget is skipped with a line saying so. ``--device cpu --tiny`` is the dry run
(tiny sizes, 2 steps; compiled modes, CUDA graphs and TF32 are GPU-only and skipped) that the tests run.
docs/gpu.md says how a session with a GPU runs it.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from tools import gpu_parts as parts
from tools.gpu_core import Sizes, Suite
from tools.gpu_report import PART_TITLES
from tools.gpu_timm import find_script


def _train(model: str, batch: int, steps: int, workers: int, trainer: str, extra: list[str]) -> list[str]:
    """A one-epoch synthetic training of ``steps`` steps, light augmentation so the loader can keep up."""
    return ["task=train", f"model={model}", f"trainer={trainer}", "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false", "data=synthetic", f"data.batch_size={batch}",
            f"data.train_size={batch * steps}", f"data.val_size={batch}", f"data.num_workers={workers}",
            "+data.augment.photometric=false", "+data.augment.random_interpolation=false", *extra]


FULL = Sizes(
    tiny=False, model="inception_v3", size=[], batch=256, steps=30,
    matrix=tuple((p, cl) for p in ("fp32", "tf32", "bf16", "fp16") for cl in (False, True)), burn_in=5, book=[],
    train_step=["model=inception_v3", "bench=train_step"], readme=[], oom_batch=4096, zoo=parts.ZOO,
    timm_models=parts.TIMM_MODELS, timm_size=[],
    train=_train("inception_v3", 128, 200, min(12, max(1, (os.cpu_count() or 2) - 2)), "gpu", []),
    est_scale=1.0,
)
TINY_RUN = ["bench.batch_size=2", "bench.steps=2", "bench.burn_in=1"]
TINY = Sizes(
    tiny=True, model="googlenet", size=["bench.input_size=31"], batch=2, steps=2, burn_in=1,
    matrix=(("fp32", False), ("tf32", False), ("bf16", True)),  # each kind of row once: fp32, TF32 switch, autocast
    book=[*TINY_RUN, "bench.input_size=75"],
    train_step=["model=googlenet", "bench=train_step", *TINY_RUN, "bench.input_size=31"],
    readme=[*TINY_RUN, "bench.input_size=31", "logger=none"], oom_batch=2**40,  # a batch no CPU can allocate
    zoo=("googlenet",), timm_models=("inception_v3",), timm_size=["bench.input_size=75"],
    train=_train("googlenet", 4, 2, 0, "cpu", ["data.input_size=31", "data.image_size=31"]),
    est_scale=0.02,
)
RUNNERS: dict[str, Callable[[Suite], None]] = {
    "harness": parts.part_harness, "oom": parts.part_oom, "precision": parts.part_precision,
    "timm": parts.part_timm, "lightning": parts.part_lightning, "compile": parts.part_compile,
    "timm_compiled": parts.part_timm_compiled, "zoo": parts.part_zoo,
    "autotune": lambda s: parts.part_compile(s, ("max-autotune",)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for records, summary.md, errors.log")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and 2 steps: the CPU dry run")
    parser.add_argument("--budget-s", type=float, default=480.0, help="start no job past this (default 480 s)")
    parser.add_argument("--parts", default=",".join(PART_TITLES), help=f"comma-separated, of: {', '.join(PART_TITLES)}")
    parser.add_argument("--timm-script", help="timm's benchmark.py (default: .device-wheels/ or shared/peers/)")
    args = parser.parse_args(argv)
    chosen = [p for p in args.parts.split(",") if p]
    unknown = [p for p in chosen if p not in PART_TITLES]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; valid choices: {', '.join(PART_TITLES)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but no CUDA device is available here; use --device cpu --tiny")
    if args.tiny:  # one CPU thread: a dry run's timings are noise anyway, and idle OpenMP threads spin on a busy CPU
        os.environ["OMP_NUM_THREADS"] = "1"  # for the README command's and timm's child processes
        torch.set_num_threads(1)
    suite = Suite(args.out, args.device, TINY if args.tiny else FULL, args.budget_s, find_script(args.timm_script))
    for part in PART_TITLES:
        if part in chosen:
            suite.guarded(part, "part", lambda run=RUNNERS[part]: run(suite))
    suite.write_summary()
    print(f"summary: {args.out / 'summary.md'} ({len(suite.rows)} rows, {len(suite.failures())} failures, "
          f"{sum(r.kind == 'skip' for r in suite.rows)} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
