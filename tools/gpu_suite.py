"""Every CUDA path of the harness once, and Inception throughput at the limit beside timm (issue 13).

    python -m tools.gpu_suite --out DIR [--device cuda|cpu] [--tiny] [--budget-s 480] [--parts a,b]
                              [--timm-script PATH]

Runs the harness through its public entry points (``run.py`` as a user would, and ``run.run_task`` on
configs composed from ``conf/``) and writes into DIR: each job's record under ``jobs/``, every row in
``records.jsonl``, tracebacks in ``errors.log`` and ``summary.md`` (rewritten after each job). Each job is
guarded: a failure is recorded and the suite goes on. Parts run in priority order; a job whose estimated
time no longer fits the budget is skipped with a line saying so. ``--device cpu --tiny`` is the dry run
(tiny sizes, 2 steps; compiled modes, CUDA graphs, TF32 and GPU decode are GPU-only and skipped or replaced, each
with a line) that the tests run.
docs/gpu.md says how a session with a GPU runs it.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from tools import gpu_parts as parts
from tools import gpu_serving as serving
from tools.gpu_core import Part, Sizes, Suite
from tools.gpu_timm import find_script


def _train(model: str, batch: int, steps: int, workers: int, trainer: str, extra: list[str]) -> list[str]:
    """A one-epoch synthetic training of ``steps`` steps, light augmentation so the loader can keep up."""
    return ["task=train", f"model={model}", f"trainer={trainer}", "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false", "data=synthetic", f"data.batch_size={batch}",
            f"data.train_size={batch * steps}", f"data.val_size={batch}", f"data.num_workers={workers}",
            "+data.augment.photometric=false", "+data.augment.random_interpolation=false",
            "classifier.channels_last=true", *extra]  # NHWC, as the train_step bench it is held against


def _serving(common: list[str], single_stream: list[str], server: list[str], offline: list[str]
             ) -> dict[str, list[str]]:
    return {"single_stream": [*common, "bench=single_stream", *single_stream],
            "server": [*common, "bench=server", *server], "offline": [*common, "bench=offline", *offline]}


def _loader(model: str, batch: int, steps: int, workers: int, extra: list[str]) -> list[str]:
    """A training step fed by the JPEG folder the suite writes (data.root and data.decode are added then)."""
    return [f"model={model}", "bench.mode=forward_backward", "bench.input=loader", "data=imagefolder",
            "data.num_classes=2", f"data.num_workers={workers}", "+data.augment.photometric=false",
            f"bench.batch_size={batch}", f"bench.steps={steps}", *extra]


WORKERS = min(12, max(1, (os.cpu_count() or 2) - 2))
GPU_BF16 = ["bench.precision=bf16", "bench.channels_last=true"]
FULL = Sizes(
    tiny=False, model="inception_v3", size=[], batch=256, steps=30,
    matrix=tuple((p, cl) for p in ("fp32", "tf32", "bf16", "fp16") for cl in (False, True)), burn_in=5, book=[],
    train_step=["model=inception_v3", "bench=train_step"], readme=[], oom_batch=4096, zoo=parts.ZOO,
    timm_models=parts.TIMM_MODELS, timm_size=[],
    train=_train("inception_v3", 128, 200, WORKERS, "gpu", []),
    # serving: Inception-v3 bf16 NHWC eager; the server's SLO is MLPerf Inference's for ResNet-50 (15 ms p99)
    serving=_serving(["model=inception_v3", *GPU_BF16], ["bench.single_stream.min_duration_s=5"],
                     ["bench.server.slo_ms=15", "bench.server.max_batch=8", "bench.server.min_duration_s=2",
                      "bench.server.search_steps=3"],
                     ["bench.offline.max_batch_size=512", "bench.offline.blocks=3", "bench.offline.block_steps=10"]),
    # random-noise JPEGs (~0.2 MB at 342 px, harder to decode than photos): a pessimistic feed
    loader=_loader("inception_v3", 128, 30, WORKERS, [*GPU_BF16, "bench.burn_in=5"]), jpegs=(256, 342),
    profile=["model=inception_v3", "bench.profile.enabled=true", *GPU_BF16, "bench.batch_size=64", "bench.steps=10",
             "bench.burn_in=5"],
    pipeline=(272, 299, 32, WORKERS, 2, 4), compare_repeats=3,
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
    serving=_serving(["model=googlenet", "bench.input_size=31", "bench.burn_in=1"],
                     ["bench.single_stream.min_queries=20", "bench.single_stream.min_duration_s=0"],
                     ["bench.server.slo_ms=200", "bench.server.max_batch=2", "bench.server.qps_min=100",
                      "bench.server.qps_max=200", "bench.server.search_steps=1", "bench.server.min_duration_s=0"],
                     ["bench.offline.max_batch_size=2", "bench.offline.blocks=2", "bench.offline.block_steps=2"]),
    loader=_loader("googlenet", 2, 2, 0, ["bench.input_size=31", "bench.burn_in=1"]), jpegs=(4, 40),
    profile=["model=googlenet", "bench.input_size=31", "bench.profile.enabled=true", *TINY_RUN],
    pipeline=(6, 64, 2, 1, 1, 1), compare_repeats=2,
    est_scale=0.02,
)
# The suite's parts in priority order: the goals' parts first (harness: events vs wall; timm; lightning;
# compile: MFU; loader: GPU decode), then the rest while the budget lasts. Adding a part:
# one Part here (name, summary title, a function of the Suite that runs its jobs through s.bench / s.add),
# its sizes in Sizes if it has any, and its dry-run row in tests/test_gpu_suite.py.
PARTS: list[Part] = [
    Part("harness", "Harness paths: README default, TF-book preset, forward_backward; events vs wall clock",
         parts.part_harness),
    Part("timm", "Ours vs timm benchmark.py (same process tree, same settings)", parts.part_timm),
    Part("lightning", "Lightning trainer vs a bare PyTorch loop", parts.part_lightning),
    Part("compile", "Inception-v3 forward, bf16 channels_last: compiled modes and CUDA graphs", parts.part_compile),
    Part("loader", "Loader mode: a training step fed by JPEGs decoded on the GPU (bench.input=loader)",
         serving.part_loader),
    Part("oom", "A batch that cannot fit, then the next job", parts.part_oom),
    Part("precision", "Inception-v3 forward: precision x layout, eager", parts.part_precision),
    Part("serving", "Serving scenarios: single-stream p99, server max QPS at the SLO, offline best batch",
         serving.part_serving),
    Part("profile", "Profile attribution: time per stage (bench.profile.enabled=true)", serving.part_profile),
    Part("timm_compiled", "Ours vs timm benchmark.py, compiled (torch.compile default mode)", parts.part_timm_compiled),
    Part("zoo", "The zoo's throughput table: bf16 channels_last compiled, at the offline best batch", parts.part_zoo),
    Part("pipeline", "Input pipeline per core: decode alone, ours, timm, torchvision (python -m tools.pipeline_bench)",
         serving.part_pipeline),
    Part("compare", "task=compare: NHWC against NCHW, a ratio with its interval and verdict", serving.part_compare),
    Part("autotune", "Inception-v3 forward, bf16 channels_last: max-autotune",
         lambda s: parts.part_compile(s, ("max-autotune",))),
]
TITLES = {p.name: p.title for p in PARTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for records, summary.md, errors.log")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and 2 steps: the CPU dry run")
    parser.add_argument("--budget-s", type=float, default=480.0, help="start no job past this (default 480 s)")
    parser.add_argument("--parts", default=",".join(TITLES), help=f"comma-separated, of: {', '.join(TITLES)}")
    parser.add_argument("--timm-script", help="timm's benchmark.py (default: .device-wheels/ or shared/peers/)")
    args = parser.parse_args(argv)
    chosen = [p for p in args.parts.split(",") if p]
    unknown = [p for p in chosen if p not in TITLES]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; valid choices: {', '.join(TITLES)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but no CUDA device is available here; use --device cpu --tiny")
    if args.tiny:  # one CPU thread: a dry run's timings are noise anyway, and idle OpenMP threads spin on a busy CPU
        os.environ["OMP_NUM_THREADS"] = "1"  # for the README command's and timm's child processes
        torch.set_num_threads(1)
    suite = Suite(args.out, args.device, TINY if args.tiny else FULL, args.budget_s, find_script(args.timm_script),
                  TITLES)
    for part in PARTS:
        if part.name in chosen:
            suite.guarded(part.name, "part", lambda run=part.run: run(suite))
    suite.write_summary()
    print(f"summary: {args.out / 'summary.md'} ({len(suite.rows)} rows, {len(suite.failures())} failures, "
          f"{sum(r.kind == 'skip' for r in suite.rows)} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
