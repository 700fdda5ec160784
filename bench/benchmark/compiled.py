"""``bench.compile``: a fresh Dynamo per job, the first call's time as the compile figure, graphs and breaks.

Dynamo's caches and guards live in the process: the jobs of a multirun (Hydra's basic launcher) share
them, and a code object recompiled more than ``torch._dynamo.config.recompile_limit`` times (every new
model instance runs the same ``forward``) silently runs eagerly from then on. Each compiled job therefore
starts from ``torch._dynamo.reset()``, as a new process would, and counts the graphs Dynamo compiled for it
and the graph breaks it met (``torch._dynamo.utils.counters``, read as differences so that nothing another
job counted is ours). A compiled job whose model got no graph ran eagerly: its record says so.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict
from typing import Any

from omegaconf import DictConfig
from torch import nn

from bench.benchmark.workload import Workload
from contracts.record import Compile

log = logging.getLogger(__name__)
BREAK_REASONS_KEPT = 5  # the record keeps the most frequent graph-break reasons; the count has them all


def first_batch(bench: DictConfig) -> int:
    """The batch of the first call: the scenario's first timed shape (server: its batcher's largest batch)."""
    if bench.scenario == "server":
        return int(bench.server.max_batch)
    return bench.batch_size if isinstance(bench.batch_size, int) else 1


def first_call(work: Workload, bench: DictConfig) -> float:
    """The first call's seconds (compilation when compiled), printed; the scenario's burn-in starts after it."""
    seconds = work.first_call(first_batch(bench))
    what = "compilation, " if bench.compile else ""
    print(f"first call ({what}not timed): {seconds:.3f} s")
    return seconds


class GraphCount:
    """Dynamo graphs compiled and graph breaks met since it was made (a process-wide counter, read as a difference)."""

    def __init__(self) -> None:
        from torch._dynamo.utils import counters

        self._counters = counters
        self._graphs = counters["stats"]["unique_graphs"]
        self._breaks = Counter(counters["graph_break"])

    def figures(self) -> tuple[int, Counter[str]]:
        breaks = Counter(self._counters["graph_break"])
        breaks.subtract(self._breaks)
        return self._counters["stats"]["unique_graphs"] - self._graphs, +breaks


def compile_model(model: nn.Module, mode: str) -> tuple[nn.Module, GraphCount]:
    """``torch.compile`` on a fresh Dynamo (see the module's docstring), and the counter of its graphs."""
    import torch._dynamo

    torch._dynamo.reset()
    count = GraphCount()
    return torch.compile(model, mode=None if mode == "default" else mode), count


def compile_figures(first_call_s: float, count: GraphCount | None) -> dict[str, Any]:
    """The record's compile fields, read after the scenario (a recompile in it counts); a line, and a warning
    when a compiled model ran eagerly or broke into several graphs."""
    if count is None:
        return asdict(Compile(first_call_s=first_call_s))
    graphs, breaks = count.figures()
    reasons = [reason.splitlines()[0] for reason, _ in breaks.most_common(BREAK_REASONS_KEPT)]
    print(f"compiled: {graphs} graph(s), {sum(breaks.values())} graph break(s) (compilation {first_call_s:.2f} s)")
    if graphs == 0:
        log.warning("bench.compile is on but Dynamo compiled no graph for this job: the model ran eagerly "
                    "(recompile limit reached, or compilation skipped)")
    elif breaks:
        log.warning("the compiled model has %d graph break(s): %s", sum(breaks.values()), "; ".join(reasons))
    return asdict(Compile(first_call_s, first_call_s, graphs, sum(breaks.values()), reasons))
