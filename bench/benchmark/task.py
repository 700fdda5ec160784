"""The benchmark task: model build -> per-image cost -> scenario runner -> the record's figures.

``bench.scenario`` picks the runner (``scenarios.SCENARIOS``; default ``tf_book``, the TensorFlow book's
protocol). Every record also says what the machine was doing (``machine``) and carries the cost
figures (GMACs/image, achieved TFLOP/s, utilisation) of whatever throughput the scenario measured.
"""
from __future__ import annotations

import contextlib
import logging
import resource
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from bench.benchmark import compiled, flops, loader, profile, scenarios
from bench.benchmark.machine import gpu_sampled, machine_at_end, machine_at_start
from bench.benchmark.workload import Workload, autocast_for, backend_flags, backend_state, is_oom, make_step
from bench.job.environment import environment, resolve_device
from contracts.errors import ConfigError, TaskFailure
from bench.job.record import JobContext
from contracts.status import Status
from contracts.record import F

log = logging.getLogger(__name__)


def input_size(bench: DictConfig, model: nn.Module) -> int:
    """The input size, checked against the model's minimum (the schema checked the rest before the job started)."""
    size = bench.input_size or model.info.default_input_size
    if size < model.info.min_input_size:
        raise ConfigError(
            f"bench.input_size={size} is smaller than {model.info.min_input_size}, the minimum input of this model"
        )
    return size


def per_image_flops(work: Workload) -> tuple[float, float]:
    """(forward FLOPs, FLOPs of the timed step) per image, counted eagerly on the uncompiled model.

    Batch 2: train-mode BatchNorm needs more than one value per channel.
    """
    pair = work.inputs(2)
    forward = flops.count_flops(make_step(work.model.eval(), pair, "forward", contextlib.nullcontext())) / 2
    work.model.train(work.mode != "forward")
    step = forward if work.mode == "forward" else (
        flops.count_flops(make_step(work.model, pair, work.mode, contextlib.nullcontext())) / 2)
    return forward, step


def cost_figures(work: Workload, forward_flops: float, step_flops: float, images_per_s: float,
                 device_name: str) -> dict[str, Any]:
    achieved = step_flops * images_per_s / 1e12
    peak_kind = flops.peak_precision(work.device, work.precision)
    peak = (flops.gpu_peak_tflops(device_name, peak_kind) if work.device.type == "cuda"
            else flops.cpu_peak_tflops(peak_kind))
    cuda = work.device.type == "cuda"
    return {
        F.gmacs_per_image: forward_flops / 2 / 1e9,
        F.gflops_per_image_step: step_flops / 1e9,
        F.achieved_tflops: achieved,
        F.peak_tflops: peak,
        F.peak_precision: peak_kind,
        F.utilization: achieved / peak if peak else None,
        F.peak_memory_mb: (torch.cuda.max_memory_allocated(work.device) / 2**20 if cuda
                           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        F.peak_memory_kind: "cuda_max_allocated" if cuda else "process_max_rss",
    }


def run_benchmark(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    with backend_flags(cfg.bench.tf32, cfg.bench.cudnn_benchmark):  # this job's; restored for the next
        return _measure(cfg, ctx)


def _measure(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    bench = cfg.bench
    device = resolve_device(bench.device)
    loader.check(cfg, device)
    if bench.threads:
        torch.set_num_threads(bench.threads)
    torch.manual_seed(cfg.seed)
    model: nn.Module = hydra.utils.instantiate(cfg.model)
    if getattr(model, "aux_weights_loaded", True) is False:  # only zoo nets with aux heads say False
        model.drop_aux_heads()
        log.info("model.weights has no aux-head weights: aux heads dropped (the benchmark times the network without them)")
    size = input_size(bench, model)
    work = Workload(model, device, (model.info.in_chans, size, size), bench.mode, bench.precision,
                    bench.channels_last, OmegaConf.to_container(cfg.model, resolve=True), on_step=ctx.advance)
    feed = loader.Feed(cfg, model.info, size, device) if bench.input == "loader" else None
    figures: dict[str, Any] = {
        **environment(device),
        F.scenario: bench.scenario, **dict.fromkeys(scenarios.SCENARIO_FIELDS),
        F.mode: bench.mode, F.batch_size: bench.batch_size, F.input_size: size, F.precision: bench.precision,
        F.memory_format: "channels_last" if bench.channels_last else "contiguous",
        F.compile: bench.compile or "off", F.steps: bench.steps, F.burn_in: bench.burn_in, F.repeats: bench.repeats,
        F.params: flops.count_params(model, aux=False), F.params_with_aux: flops.count_params(model),
        F.input: bench.input, F.profiled: bench.profile.enabled,
        **backend_state(tf32_ran=flops.peak_precision(device, bench.precision) == "tf32"),
        **machine_at_start(device, torch.get_num_threads()),
    }
    ctx.record.update(figures)  # so a failure below still records what was tried
    try:
        work.model = model.to(device=device, memory_format=work.memory_format)
        forward_flops, step_flops = per_image_flops(work)
        graphs = None
        if bench.compile:
            work.model, graphs = compiled.compile_model(work.model, bench.compile)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        first_call_s = compiled.first_call(work, bench)  # compilation: never in the timed steps
        with gpu_sampled(device) as sampling:
            result = scenarios.SCENARIOS[bench.scenario](work, bench, cfg.seed)
        result.update(**compiled.compile_figures(first_call_s, graphs), **sampling)
    except Exception as exc:
        if is_oom(exc):
            raise TaskFailure(Status.OOM, f"out of memory at batch size {bench.batch_size}: {str(exc).splitlines()[0]}") from exc
        raise
    finally:
        figures.update(machine_at_end(device))
        ctx.record.update(figures)
    result = {**figures, **result,
              **cost_figures(work, forward_flops, step_flops, result[F.images_per_s], figures[F.device_name])}
    if feed is not None or bench.profile.enabled:  # more steps of the same workload, after the scenario's own timing
        x = work.inputs(bench.batch_size)
        step = make_step(work.model, x, bench.mode, autocast_for(device, bench.precision))
        if feed is not None:
            result.update(feed.measure(step, x, result, bench))
        if bench.profile.enabled:
            count_step = make_step(work.model, work.inputs(2), bench.mode, contextlib.nullcontext())
            result.update(profile.attribute(work.model, step, count_step, result, bench, device, ctx.out_dir))
    return result
