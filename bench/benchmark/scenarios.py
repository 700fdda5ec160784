"""The four ways a benchmark job times a model (``bench.scenario``), after MLPerf Inference's scenarios.

- ``tf_book``: the TensorFlow book's protocol, a fixed batch, every step synchronised (the default).
- ``single_stream``: batch 1, one query after another; the per-query latency distribution.
- ``offline``: steps back to back, one synchronisation per block; img/s, optionally at the best batch.
- ``server``: Poisson arrivals, a dynamic batcher, latency under load against a p99 SLO.

Each runner takes the ``Workload`` and the ``bench`` config and returns the record's figures.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from omegaconf import DictConfig

from bench.benchmark import batch_search, server
from bench.benchmark.latency import latency_figures, latency_line
from bench.benchmark.machine import EnergyMeter
from bench.benchmark.timing import book_line, summarize, time_blocks, time_steps
from bench.benchmark.workload import Workload
from contracts.errors import ConfigError, TaskFailure, check_choice, check_positive
from contracts.status import Status

log = logging.getLogger(__name__)
SCENARIO_FIELDS = (
    "latency_p50_s", "latency_p90_s", "latency_p99_s", "latency_p999_s", "latency_mean_s", "latency_std_s",
    "queries", "qps_offered", "qps_achieved", "slo_s", "slo_met", "max_qps_at_slo", "qps_probes",
    "batch_size_max_fit", "batch_size_best", "batch_sizes_tried",
    # bench.repeats: one entry per repeat (a compare resamples repeats as well as steps within them)
    "repeat_queries", "repeat_latency_p99_s", "repeat_block_times_s", "repeat_images_per_s", "repeat_max_qps_at_slo",
)


def check_number(option: str, value: object, minimum: float, inclusive: bool) -> None:
    """A real number above ``minimum`` (or equal to it when ``inclusive``)."""
    bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            value >= minimum if inclusive else value > minimum):
        raise ConfigError(f"{option} must be a number {bound}, got {value!r}")


def validate(bench: DictConfig) -> None:
    """The scenario's own options, before any work (the common ones are checked by the task)."""
    scenario = bench.scenario
    check_choice("bench.scenario", scenario, SCENARIOS)
    if bench.batch_size == "auto":
        if scenario != "offline":
            raise ConfigError(f"bench.batch_size=auto searches the best batch of the offline scenario only, "
                              f"not {scenario}; give a batch size or use bench.scenario=offline")
    else:
        check_positive("bench.batch_size", bench.batch_size)
    if scenario in ("single_stream", "server"):
        if bench.mode != "forward":
            raise ConfigError(f"bench.scenario={scenario} times inference: bench.mode must be forward, got {bench.mode!r}")
        check_positive("bench.min_queries", bench.min_queries)
        check_number("bench.min_duration_s", bench.min_duration_s, 0, inclusive=True)
    if scenario == "single_stream" and bench.batch_size != 1:
        raise ConfigError(f"bench.scenario=single_stream serves one query at a time: bench.batch_size must be 1, "
                          f"got {bench.batch_size} (bench=single_stream sets it)")
    if scenario == "server":
        check_number("bench.target_qps", bench.target_qps, 0, inclusive=False)
        check_number("bench.slo_ms", bench.slo_ms, 0, inclusive=False)
        check_positive("bench.max_batch", bench.max_batch)
        check_number("bench.max_wait_ms", bench.max_wait_ms, 0, inclusive=True)
        check_positive("bench.search_steps", bench.search_steps)
        for option in ("qps_min", "qps_max"):
            if bench[option] is not None:
                check_number(f"bench.{option}", bench[option], 0, inclusive=False)
        if bench.qps_min is not None and bench.qps_max is not None and bench.qps_min >= bench.qps_max:
            raise ConfigError(f"bench.qps_min ({bench.qps_min}) must be below bench.qps_max ({bench.qps_max})")
    if scenario == "offline":
        for option in ("blocks", "block_steps", "max_batch_size"):
            check_positive(f"bench.{option}", bench[option])
        if bench.max_memory_gb is not None:
            check_number("bench.max_memory_gb", bench.max_memory_gb, 0, inclusive=False)


def run_tf_book(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """Today's protocol, unchanged: the book's line per repeat, the spread across repeats."""
    step = work.step(bench.batch_size)
    meter = EnergyMeter(work.device)
    durations: list[float] = []
    repeat_means: list[float] = []
    for _ in range(bench.repeats):
        times = time_steps(step, work.device, bench.steps, bench.burn_in, bench.log_every, window=meter.window())
        stats = summarize(times, bench.batch_size)
        print(book_line(bench.mode, bench.steps, stats["mean_s"], stats["std_s"]))
        durations += times
        repeat_means.append(stats["mean_s"])
    stats = summarize(durations, bench.batch_size)
    if bench.repeats > 1:
        spread = summarize(repeat_means, bench.batch_size)
        print(f"Across {bench.repeats} repeats: {spread['mean_s']:.3f} +/- {spread['std_s']:.3f} sec / batch "
              f"(all {len(durations)} steps: {stats['mean_s']:.3f} +/- {stats['std_s']:.3f})")
        stats["repeat_std_s"] = spread["std_s"]
    return {**stats, "step_times_s": durations, "repeat_means_s": repeat_means,
            **meter.figures(len(durations) * bench.batch_size)}


def run_single_stream(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """One query at a time until both ``min_queries`` and ``min_duration_s`` are reached."""
    serve = work.serve_fn(1)
    for _ in range(bench.burn_in):
        serve(1)
    meter = EnergyMeter(work.device)
    latencies: list[float] = []
    per_repeat: list[list[float]] = []
    with meter.window():
        start = time.perf_counter()
        for _ in range(bench.repeats):  # each repeat reaches both bounds on its own
            begin, began = len(latencies), time.perf_counter()
            while len(latencies) - begin < bench.min_queries or time.perf_counter() - began < bench.min_duration_s:
                sent = time.perf_counter()
                serve(1)
                latencies.append(time.perf_counter() - sent)
            per_repeat.append(latencies[begin:])
        elapsed = time.perf_counter() - start
    figures = latency_figures(latencies, what="single-stream latency")
    print(f"single_stream: {len(latencies)} queries in {elapsed:.1f} s, {latency_line(figures)}, "
          f"mean {figures['latency_mean_s']:.4f} +/- {figures['latency_std_s']:.4f} s")
    return {**figures, "duration_s": elapsed, "qps_achieved": len(latencies) / elapsed,
            "images_per_s": len(latencies) / elapsed,
            "mean_s": figures["latency_mean_s"], "std_s": figures["latency_std_s"], "step_times_s": latencies,
            "repeat_queries": [len(r) for r in per_repeat],
            "repeat_latency_p99_s": [latency_figures(r, what="one repeat")["latency_p99_s"] for r in per_repeat],
            **meter.figures(len(latencies))}


def measure_offline(work: Workload, bench: DictConfig, batch: int, repeats: int = 1) -> dict[str, Any]:
    """img/s of one batch size from ``blocks`` blocks of ``block_steps`` steps, one sync per block (``repeats``
    times, each after its own burn-in; the figures pool every block, the per-repeat lists keep each one's)."""
    meter = EnergyMeter(work.device)
    step = work.step(batch)
    per_repeat = [time_blocks(step, work.device, bench.blocks, bench.block_steps, bench.burn_in, window=meter.window())
                  for _ in range(repeats)]
    blocks = [t for times in per_repeat for t in times]
    per_block = np.asarray([batch * bench.block_steps / t for t in blocks])
    per_step = np.asarray(blocks) / bench.block_steps
    images = batch * bench.block_steps * bench.blocks * repeats
    figures = {"images_per_s": images / sum(blocks), "images_per_s_std": float(per_block.std(ddof=0)),
               "mean_s": float(per_step.mean()), "std_s": float(per_step.std(ddof=0)),
               "block_times_s": blocks, "repeat_block_times_s": per_repeat,
               "repeat_images_per_s": [images / repeats / sum(times) for times in per_repeat], **meter.figures(images)}
    print(f"offline batch {batch}: {figures['images_per_s']:.1f} +/- {figures['images_per_s_std']:.1f} img/s "
          f"across {bench.blocks} blocks of {bench.block_steps} steps ({figures['mean_s']:.4f} s / step)")
    return figures


def run_offline(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """A given batch is timed as given (never changed); ``auto`` finds the largest fit, then the best batch."""
    limit = batch_search.memory_limit_bytes(bench.max_memory_gb, work.device)
    if bench.batch_size != "auto":
        if bench.max_memory_gb is not None:  # probed before it runs here: a batch over the limit never does
            probe = batch_search.probe_for(work, limit)(bench.batch_size)
            if not probe.fits:
                raise TaskFailure(Status.OOM, f"batch size {bench.batch_size} does not fit within bench.max_memory_gb="
                                              f"{bench.max_memory_gb} ({probe.reason}); a given batch is never changed")
        return measure_offline(work, bench, bench.batch_size, bench.repeats)
    max_fit, probes = batch_search.find_max_batch(batch_search.probe_for(work, limit), bench.max_batch_size)
    if max_fit is None:
        raise TaskFailure(Status.OOM, f"batch size auto: not even batch 1 fits ({probes[0].reason})")
    if max_fit == bench.max_batch_size:
        log.info("batch search stopped at bench.max_batch_size=%d, which fits; raise it to search further", max_fit)
    tried = {b: measure_offline(work, bench, b) for b in batch_search.candidate_batches(max_fit)}
    best = max(tried, key=lambda b: tried[b]["images_per_s"])
    print(f"offline: batch {max_fit} is the largest that fits; the best is batch {best} at "
          f"{tried[best]['images_per_s']:.1f} img/s")
    final = measure_offline(work, bench, best, bench.repeats) if bench.repeats > 1 else tried[best]
    return {**final, "batch_size": best, "batch_size_max_fit": max_fit, "batch_size_best": best,
            "batch_sizes_tried": [{"batch_size": b, "images_per_s": f["images_per_s"]} for b, f in tried.items()]}


def run_server(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """One run at ``target_qps``, or (``search_qps``) the highest offered QPS whose p99 meets ``slo_ms``."""
    serve = work.serve_fn(bench.max_batch)
    for batch in range(1, bench.max_batch + 1):  # every shape once: kernels are picked per shape
        serve(batch)
    for _ in range(bench.burn_in):
        serve(1)
    slo_s, max_wait_s = bench.slo_ms / 1000, bench.max_wait_ms / 1000

    def probe(qps: float) -> dict[str, Any]:
        queries = server.probe_queries(qps, bench.min_queries, bench.min_duration_s)
        meter = EnergyMeter(work.device)
        with meter.window():
            figures = server.run_at(serve, qps, queries, seed, bench.max_batch, max_wait_s, slo_s)
        return {**figures, **meter.figures(queries)}

    def once() -> dict[str, Any]:
        if not bench.search_qps:
            return {**probe(bench.target_qps), "max_qps_at_slo": None, "qps_probes": None}
        qps_max = bench.qps_max or capacity_qps(serve, bench.max_batch)
        qps_min = bench.qps_min or qps_max / 4
        if qps_min >= qps_max:  # a given qps_min at or above the measured capacity: search above it
            log.info("bench.qps_min=%g is not below the worker's capacity (%.2f QPS); searching up to %g",
                     qps_min, qps_max, 2 * qps_min)
            qps_max = 2 * qps_min
        print(f"server: searching offered QPS in [{qps_min:.2f}, {qps_max:.2f}] for a p99 within {slo_s:.4f} s")
        return server.search_qps(probe, qps_min, qps_max, bench.search_steps)

    runs = [once() for _ in range(bench.repeats)]
    # the record's figures are one whole repeat's: the median one (by max QPS at the SLO, else by p99)
    key = "max_qps_at_slo" if bench.search_qps else "latency_p99_s"
    figures = sorted(runs, key=lambda f: -1.0 if f[key] is None else f[key])[(len(runs) - 1) // 2]
    figures.update(repeat_max_qps_at_slo=[f["max_qps_at_slo"] for f in runs],
                   repeat_latency_p99_s=[f["latency_p99_s"] for f in runs])
    return {**figures, "images_per_s": figures["qps_achieved"], "batch_size": bench.max_batch}


def capacity_qps(serve: Callable[[int], None], max_batch: int, tries: int = 3) -> float:
    """Queries per second the worker clears at full batches: where a search's range ends."""
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        serve(max_batch)
        times.append(time.perf_counter() - start)
    return max_batch / float(np.median(times))


SCENARIOS: dict[str, Callable[[Workload, DictConfig, int], dict[str, Any]]] = {
    "tf_book": run_tf_book, "single_stream": run_single_stream, "offline": run_offline, "server": run_server,
}
