"""``bench.profile.enabled=true``: which part of the network costs the time, module by module.

The model is cut at ``bench.profile.depth`` (1: the stages, 2: the branches inside them, ...). ModuleLists
and ModuleDicts are looked through (never called, their names are structure), and so is a Sequential of named
modules (Inception-v3's ``features``: a list of stages); a Sequential of numbered layers (a branch) is one module.
``torch.profiler`` runs over the timed steps; every op's self time (CPU time, or on CUDA its kernels' time)
goes to the module it ran for:

- forward: the module whose ``record_function`` range (one per module call, also shown in the trace) holds it;
- backward: the module whose forward created the autograd node being run (autograd sequence numbers, noted
  at each module call), so a branch point's backward is not counted twice;
- the optimizer's step and zero_grad: ``(optimizer)``; anything else (loss, glue between modules): ``(other)``.

FLOPs per module are ``FlopCounterMode``'s per-module counts under the same attribution: its own module
tracker gives the backward at a branch point to both sides (GoogLeNet's inception4b would count aux1's).
"""
from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn
from torch.autograd import DeviceType
from torch.utils.flop_counter import FlopCounterMode

from bench.benchmark.phase import retimed
from bench.benchmark.timing import time_steps
from contracts.record import F

OTHER = "(other)"
OPTIMIZER = "(optimizer)"
RANGE = "module: "
BACKWARD_NODE = "autograd::engine::evaluate_function: "
TRACE_FILE = "trace.json.gz"  # Chrome / Perfetto (ui.perfetto.dev) open it as it is


def _looked_through(module: nn.Module) -> bool:
    if type(module) in (nn.ModuleList, nn.ModuleDict):
        return True
    return type(module) is nn.Sequential and not any(name.isdigit() for name, _ in module.named_children())


def _children(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    named = []
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if _looked_through(child):
            # a Sequential of named stages (``features``) reads as its stages; a dict of heads keeps its name,
            # since its keys repeat the stages they tap (``aux_heads.inception4a``)
            named += _children(child, prefix if type(child) is nn.Sequential else path)
        else:
            named.append((path, child))
    return named


def module_levels(model: nn.Module) -> list[list[tuple[str, nn.Module]]]:
    """The model cut at depth 1, 2, ... down to single layers; each level partitions the model."""
    levels: list[list[tuple[str, nn.Module]]] = []
    frontier = [("", model)]
    while True:
        deeper = [unit for name, module in frontier for unit in (_children(module, name) or [(name, module)])]
        if [name for name, _ in deeper] == [name for name, _ in frontier]:
            return levels
        levels.append(deeper)
        frontier = deeper


class ModuleAttribution:
    """Hooks on the modules of one level that say which of them an op belongs to, in forward and in backward."""

    def __init__(self, units: Sequence[tuple[str, nn.Module]], ranges: bool) -> None:
        self.units, self.ranges = units, ranges
        self.calls: Counter[str] = Counter()
        self.current: str | None = None
        self._open: list[tuple[Any, int, str | None]] = []
        self._starts: list[int] = []  # autograd sequence numbers [start, end) each call created
        self._ends: list[int] = []
        self._names: list[str] = []
        self._handles: list[Any] = []

    def __enter__(self) -> ModuleAttribution:
        for name, module in self.units:
            self._handles += [module.register_forward_pre_hook(partial(self._enter, name)),
                              module.register_forward_hook(partial(self._exit, name))]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()

    def _enter(self, name: str, module: nn.Module, args: Any) -> None:
        span = torch.profiler.record_function(RANGE + name) if self.ranges else None
        if span is not None:
            span.__enter__()
        self._open.append((span, torch._C._autograd._get_sequence_nr(), self.current))
        self.current = name
        self.calls[name] += 1

    def _exit(self, name: str, module: nn.Module, args: Any, output: Any) -> None:
        span, start, self.current = self._open.pop()
        self._starts.append(start)
        self._ends.append(torch._C._autograd._get_sequence_nr())
        self._names.append(name)
        if span is not None:
            span.__exit__(None, None, None)

    def of_node(self, sequence_nr: int) -> str:
        """The module whose forward created the autograd node numbered ``sequence_nr``."""
        i = bisect.bisect_right(self._starts, sequence_nr) - 1
        return self._names[i] if i >= 0 and sequence_nr < self._ends[i] else OTHER

    def now(self) -> str:
        node = torch._C._current_autograd_node()  # set while the autograd engine runs a node
        return self.of_node(node._sequence_nr()) if node is not None else self.current or OTHER


class ModuleFlops(FlopCounterMode):
    """FlopCounterMode whose per-module counts follow a ``ModuleAttribution`` (one module per op)."""

    def __init__(self, attribution: ModuleAttribution) -> None:
        super().__init__(display=False)
        self.attribution = attribution

    def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
        if func_packet in self.flop_registry:
            count = self.flop_registry[func_packet](*args, **kwargs, out_val=out)
            self.flop_counts["Global"][func_packet] += count
            self.flop_counts[self.attribution.now()][func_packet] += count
        return out


def event_times(events: Any, attribution: ModuleAttribution, cuda: bool) -> dict[str, float]:
    """Seconds of self time per module over all profiled steps (on CUDA: the kernels each op launched)."""
    owner: dict[int, str] = {}

    def module_of(event: Any) -> str:
        chain, name = [], OTHER
        while event is not None:
            if id(event) in owner:
                name = owner[id(event)]
                break
            if event.name.startswith(RANGE):
                name = event.name[len(RANGE):]
                break
            if event.name.startswith(BACKWARD_NODE):
                name = attribution.of_node(event.sequence_nr)
                break
            if event.name.startswith("Optimizer."):  # torch.optim's own ranges: Optimizer.step#SGD.step, ...
                name = OPTIMIZER
                break
            chain.append(event)
            event = event.cpu_parent
        for seen in chain:
            owner[id(seen)] = name
        return name

    totals: dict[str, float] = defaultdict(float)
    for event in events:
        if event.device_type == DeviceType.CPU:
            totals[module_of(event)] += (event.self_device_time_total if cuda else event.self_cpu_time_total) / 1e6
    return totals


def attribute(model: nn.Module, step: Callable[[], Any], count_step: Callable[[], Any], result: dict[str, Any],
              bench: DictConfig, device: torch.device, out_dir: Path) -> dict[str, Any]:
    """Profile ``bench.steps`` more steps; per-module time and FLOPs; the timed figures become the profiled ones.

    ``count_step`` is the step on 2 images that the record's FLOPs were counted on.
    """
    levels = module_levels(model)
    depth = min(bench.profile.depth, len(levels))
    if depth < bench.profile.depth:
        print(f"bench.profile.depth={bench.profile.depth} is deeper than this model goes; profiling its deepest level, {depth}")
    units = levels[depth - 1]
    with ModuleAttribution(units, ranges=False) as counting, ModuleFlops(counting) as counter:
        count_step()
    flops = {name: sum(ops.values()) / 2 for name, ops in counter.get_flop_counts().items()}  # per image
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with ModuleAttribution(units, ranges=True) as attribution, torch.profiler.profile(activities=activities) as prof:
        durations = time_steps(step, device, bench.steps, 0, bench.log_every)
    trace = Path(out_dir) / TRACE_FILE
    prof.export_chrome_trace(str(trace))
    times = event_times(prof.events(), attribution, device.type == "cuda")
    names = [name for name, _ in units if attribution.calls[name]] + [name for name in (OPTIMIZER, OTHER) if name in times]
    total_time = sum(times.values()) / bench.steps
    rows = []
    for name in names:
        time_s, gflops = times.get(name, 0.0) / bench.steps, flops.get(name, 0.0) / 1e9
        rows.append({"name": name, "time_s": time_s, "time_share": time_s / total_time if total_time else 0.0,
                     "gflops": gflops, "flop_share": flops.get(name, 0.0) / flops["Global"] if flops.get("Global") else 0.0,
                     "gflops_per_s": gflops * bench.batch_size / time_s if time_s else 0.0})
    rows.sort(key=lambda row: row["time_s"], reverse=True)
    retime = retimed(result, durations, bench.batch_size)
    overhead = retime[F.mean_s] / result[F.mean_s]
    print(module_table(rows, depth, retime[F.mean_s], overhead))
    print(f"Trace: {trace}")
    return {**retime, F.profiled: True, F.profile_overhead: overhead, F.profile_depth: depth, F.modules: rows,
            F.trace_file: str(trace)}


def module_table(rows: list[dict[str, Any]], depth: int, step_s: float, overhead: float) -> str:
    """The rows as a text table sorted by time, with the step time they add up to."""
    width = max(len("module"), *(len(row["name"]) for row in rows))
    lines = [f"Where the time goes (depth {depth}; profiled step {step_s * 1e3:.2f} ms, "
             f"{overhead:.2f} x the unprofiled step):",
             f"{'module':<{width}}  {'ms/step':>9}  {'time %':>6}  {'GFLOP/img':>9}  {'FLOP %':>6}  {'GFLOP/s':>8}"]
    for row in rows:
        lines.append(f"{row['name']:<{width}}  {row['time_s'] * 1e3:9.3f}  {100 * row['time_share']:6.1f}  "
                     f"{row['gflops']:9.4f}  {100 * row['flop_share']:6.1f}  {row['gflops_per_s']:8.1f}")
    total = sum(row["time_s"] for row in rows)
    lines.append(f"{'sum':<{width}}  {total * 1e3:9.3f}  ({100 * total / step_s:.0f}% of the profiled step)")
    return "\n".join(lines)
