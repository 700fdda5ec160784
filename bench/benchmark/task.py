"""The benchmark task: time one model under the configured protocol and return the record's figures."""
from __future__ import annotations

import contextlib
import resource
from collections.abc import Callable
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from torch import nn

from bench.benchmark import flops
from bench.job.environment import environment, resolve_device
from bench.job.errors import ConfigError, TaskFailure, check_choice, check_positive
from bench.job.record import JobContext
from bench.job.status import Status
from bench.benchmark.timing import MODE_LABELS, book_line, summarize, time_steps

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_MODES = (False, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def validate(bench: DictConfig) -> None:
    """Check every option before any work is done."""
    check_choice("bench.mode", bench.mode, MODE_LABELS)
    check_choice("bench.precision", bench.precision, PRECISIONS)
    check_choice("bench.compile", bench.compile, COMPILE_MODES)
    for option in ("batch_size", "steps", "repeats"):
        check_positive(f"bench.{option}", bench[option])
    if not isinstance(bench.burn_in, int) or bench.burn_in < 0:
        raise ConfigError(f"bench.burn_in must be a non-negative integer, got {bench.burn_in!r}")
    if bench.threads is not None:
        check_positive("bench.threads", bench.threads)


def input_size(bench: DictConfig, model: nn.Module) -> int:
    size = bench.input_size or model.info.default_input_size
    check_positive("bench.input_size", size)
    if size < model.info.min_input_size:
        raise ConfigError(
            f"bench.input_size={size} is smaller than {model.info.min_input_size}, the minimum input of this model"
        )
    return size


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "can't allocate memory" in str(exc))
    )


def make_step(model: nn.Module, x: torch.Tensor, mode: str, autocast: contextlib.AbstractContextManager) -> Callable[[], Any]:
    """One timed unit: an inference forward, or forward + backward + optimizer step on random labels."""
    if mode == "forward":
        def step() -> Any:
            with torch.inference_mode(), autocast:
                return model(x)
        return step

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    num_classes = getattr(model, "num_classes", None)
    labels = torch.randint(0, num_classes, (x.shape[0],), device=x.device) if num_classes else None

    def train_step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            out = model(x)
            logits, aux = out if isinstance(out, tuple) else (out, ())
            if labels is None:  # building blocks: no classifier
                loss = logits.float().square().mean()
            else:
                loss = sum(nn.functional.cross_entropy(o.float(), labels) for o in (logits, *aux))
        loss.backward()
        optimizer.step()
        return loss
    return train_step


def run_benchmark(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    bench = cfg.bench
    validate(bench)
    device = resolve_device(bench.device)
    if bench.threads:
        torch.set_num_threads(bench.threads)
    torch.manual_seed(cfg.seed)
    model: nn.Module = hydra.utils.instantiate(cfg.model)
    size = input_size(bench, model)
    memory_format = torch.channels_last if bench.channels_last else torch.contiguous_format
    dtype = PRECISIONS[bench.precision]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    figures: dict[str, Any] = {
        **environment(device),
        "mode": bench.mode, "batch_size": bench.batch_size, "input_size": size, "precision": bench.precision,
        "memory_format": "channels_last" if bench.channels_last else "contiguous",
        "compile": bench.compile or "off", "steps": bench.steps, "burn_in": bench.burn_in, "repeats": bench.repeats,
        "params": flops.count_params(model, aux=False), "params_with_aux": flops.count_params(model),
    }
    ctx.record.update(figures)  # so a failure below still records what was tried
    try:
        model = model.to(device=device, memory_format=memory_format)
        shape = (model.info.in_chans, size, size)
        # Cost per image, counted eagerly on the uncompiled model (batch 2: train-mode BN needs > 1 value).
        pair = torch.randn(2, *shape, device=device).to(memory_format=memory_format)
        forward_flops = flops.count_flops(make_step(model.eval(), pair, "forward", contextlib.nullcontext())) / 2
        model.train(bench.mode != "forward")
        flops_per_image = forward_flops if bench.mode == "forward" else (
            flops.count_flops(make_step(model, pair, bench.mode, contextlib.nullcontext())) / 2)
        if bench.compile:
            model = torch.compile(model, mode=None if bench.compile == "default" else bench.compile)
        x = torch.randn(bench.batch_size, *shape, device=device).to(memory_format=memory_format)
        step = ctx.counting(make_step(model, x, bench.mode, autocast))  # steps done: an interrupted record says how far
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        durations: list[float] = []
        repeat_means: list[float] = []
        for repeat in range(bench.repeats):
            times = time_steps(step, device, bench.steps, bench.burn_in, bench.log_every)
            stats = summarize(times, bench.batch_size)
            print(book_line(bench.mode, bench.steps, stats["mean_s"], stats["std_s"]))
            durations += times
            repeat_means.append(stats["mean_s"])
    except Exception as exc:
        if is_oom(exc):
            raise TaskFailure(Status.OOM, f"out of memory at batch size {bench.batch_size}: {str(exc).splitlines()[0]}") from exc
        raise
    stats = summarize(durations, bench.batch_size)
    if bench.repeats > 1:
        spread = summarize(repeat_means, bench.batch_size)
        print(f"Across {bench.repeats} repeats: {spread['mean_s']:.3f} +/- {spread['std_s']:.3f} sec / batch "
              f"(all {len(durations)} steps: {stats['mean_s']:.3f} +/- {stats['std_s']:.3f})")
        stats["repeat_std_s"] = spread["std_s"]
    achieved = flops_per_image * bench.batch_size / stats["mean_s"] / 1e12
    peak_kind = flops.peak_precision(device, bench.precision)
    peak = (flops.gpu_peak_tflops(figures["device_name"], peak_kind) if device.type == "cuda"
            else flops.cpu_peak_tflops(peak_kind))
    memory = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
              else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {
        **stats,
        "step_times_s": durations,
        "repeat_means_s": repeat_means,
        "gmacs_per_image": forward_flops / 2 / 1e9,
        "gflops_per_image_step": flops_per_image / 1e9,
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "peak_precision": peak_kind,
        "utilization": achieved / peak if peak else None,
        "peak_memory_mb": memory,
        "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "process_max_rss",
    }
