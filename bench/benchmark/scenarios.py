"""The four ways a benchmark job times a model (``bench.scenario``), after MLPerf Inference's scenarios.

- ``tf_book``: the TensorFlow book's protocol, a fixed batch, every step synchronised (the default).
- ``single_stream``: batch 1, one query after another; the per-query latency distribution.
- ``offline``: steps back to back, one synchronisation per block; img/s, optionally at the best batch.
- ``server``: Poisson arrivals, a dynamic batcher, latency under load against a p99 SLO.

Each runner takes the ``Workload`` and the ``bench`` config (its options: ``contracts.config.BenchConfig``, checked
before the job starts; a scenario's own options in its section, ``bench.<scenario>``) and returns the record's figures.
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
from bench.job.energy import EnergyMeter
from bench.benchmark.timing import book_line, step_clocks, summarize, time_blocks, time_steps_both
from bench.benchmark.workload import Workload
from contracts.errors import TaskFailure
from contracts.status import Status
from contracts.record import F, Latency, Offline, Repeats, Server, names

log = logging.getLogger(__name__)
SEARCH_DOWN_STEPS = 3  # the server search's own range bottom (qps_max / 4) halved at most thrice while it misses
SCENARIO_FIELDS = names(Latency, Server, Offline, Repeats)  # null in a tf_book record (Repeats: tf_book's are Timing's)


def run_tf_book(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """Today's protocol, unchanged: the book's line per repeat, the spread across repeats."""
    step = work.step(bench.batch_size)
    meter = EnergyMeter(work.device)
    durations: list[float] = []
    walls: list[float] | None = None  # the wall clock beside CUDA events; None on a CPU (its only clock)
    repeat_means: list[float] = []
    for _ in range(bench.repeats):
        timed = time_steps_both(step, work.device, bench.steps, bench.burn_in, bench.log_every, window=meter.window())
        stats = summarize(timed.times, bench.batch_size)
        print(book_line(bench.mode, bench.steps, stats[F.mean_s], stats[F.std_s]))
        durations += timed.times
        walls = None if timed.wall is None else (walls or []) + timed.wall
        repeat_means.append(stats[F.mean_s])
    stats = summarize(durations, bench.batch_size)
    if bench.repeats > 1:
        spread = summarize(repeat_means, bench.batch_size)
        print(f"Across {bench.repeats} repeats: {spread[F.mean_s]:.3f} +/- {spread[F.std_s]:.3f} sec / batch "
              f"(all {len(durations)} steps: {stats[F.mean_s]:.3f} +/- {stats[F.std_s]:.3f})")
        stats[F.repeat_std_s] = spread[F.std_s]
    return {**stats, F.step_times_s: durations, F.repeat_means_s: repeat_means,
            **step_clocks(timed.clock, durations, walls), **meter.figures(len(durations) * bench.batch_size)}


def run_single_stream(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """One query at a time until both ``bench.single_stream.min_queries`` and ``min_duration_s`` are reached."""
    run = bench.single_stream
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
            while len(latencies) - begin < run.min_queries or time.perf_counter() - began < run.min_duration_s:
                sent = time.perf_counter()
                serve(1)
                latencies.append(time.perf_counter() - sent)
            per_repeat.append(latencies[begin:])
        elapsed = time.perf_counter() - start
    figures = latency_figures(latencies, what="single-stream latency")
    print(f"single_stream: {len(latencies)} queries in {elapsed:.1f} s, {latency_line(figures)}, "
          f"mean {figures[F.latency_mean_s]:.4f} +/- {figures[F.latency_std_s]:.4f} s")
    return {**figures, F.duration_s: elapsed, F.qps_achieved: len(latencies) / elapsed,
            F.images_per_s: len(latencies) / elapsed,
            F.mean_s: figures[F.latency_mean_s], F.std_s: figures[F.latency_std_s], F.step_times_s: latencies,
            F.repeat_queries: [len(r) for r in per_repeat],
            F.repeat_latency_p99_s: [latency_figures(r, what="one repeat")[F.latency_p99_s] for r in per_repeat],
            **meter.figures(len(latencies))}


def measure_offline(work: Workload, bench: DictConfig, batch: int, repeats: int = 1) -> dict[str, Any]:
    """img/s of one batch size from ``bench.offline.blocks`` blocks of ``block_steps`` steps, one sync per block
    (``repeats`` times, each after its own burn-in; the figures pool every block, the per-repeat lists keep each one's)."""
    offline = bench.offline
    meter = EnergyMeter(work.device)
    step = work.step(batch)
    per_repeat = [time_blocks(step, work.device, offline.blocks, offline.block_steps, bench.burn_in,
                              window=meter.window()) for _ in range(repeats)]
    blocks = [t for times in per_repeat for t in times]
    per_block = np.asarray([batch * offline.block_steps / t for t in blocks])
    per_step = np.asarray(blocks) / offline.block_steps
    images = batch * offline.block_steps * offline.blocks * repeats
    figures = {F.images_per_s: images / sum(blocks), F.images_per_s_std: float(per_block.std(ddof=0)),
               F.mean_s: float(per_step.mean()), F.std_s: float(per_step.std(ddof=0)),
               F.block_times_s: blocks, F.repeat_block_times_s: per_repeat,
               F.repeat_images_per_s: [images / repeats / sum(times) for times in per_repeat], **meter.figures(images)}
    print(f"offline batch {batch}: {figures[F.images_per_s]:.1f} +/- {figures[F.images_per_s_std]:.1f} img/s "
          f"across {offline.blocks} blocks of {offline.block_steps} steps ({figures[F.mean_s]:.4f} s / step)")
    return figures


def run_offline(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """A given batch is timed as given (never changed); ``auto`` finds the largest fit, then the best batch."""
    offline = bench.offline
    limit = batch_search.memory_limit_bytes(offline.max_memory_gb, work.device)
    if bench.batch_size != "auto":
        if offline.max_memory_gb is not None:  # probed before it runs here: a batch over the limit never does
            probe = batch_search.probe_for(work, limit)(bench.batch_size)
            if not probe.fits:
                raise TaskFailure(Status.OOM, f"batch size {bench.batch_size} does not fit within bench.offline."
                                              f"max_memory_gb={offline.max_memory_gb} ({probe.reason}); "
                                              "a given batch is never changed")
        return measure_offline(work, bench, bench.batch_size, bench.repeats)
    max_fit, probes = batch_search.find_max_batch(batch_search.probe_for(work, limit), offline.max_batch_size)
    if max_fit is None:
        raise TaskFailure(Status.OOM, f"batch size auto: not even batch 1 fits ({probes[0].reason})")
    if max_fit == offline.max_batch_size:
        log.info("batch search stopped at bench.offline.max_batch_size=%d, which fits; raise it to search further", max_fit)
    tried = {b: measure_offline(work, bench, b) for b in batch_search.candidate_batches(max_fit)}
    best = max(tried, key=lambda b: tried[b][F.images_per_s])
    print(f"offline: batch {max_fit} is the largest that fits; the best is batch {best} at "
          f"{tried[best][F.images_per_s]:.1f} img/s")
    final = measure_offline(work, bench, best, bench.repeats) if bench.repeats > 1 else tried[best]
    return {**final, F.batch_size: best, F.batch_size_max_fit: max_fit, F.batch_size_best: best,
            F.batch_sizes_tried: [{F.batch_size: b, F.images_per_s: f[F.images_per_s]} for b, f in tried.items()]}


def run_server(work: Workload, bench: DictConfig, seed: int) -> dict[str, Any]:
    """One run at ``bench.server.target_qps``, or (``search_qps``) the highest offered QPS whose p99 meets ``slo_ms``."""
    srv = bench.server
    serve = work.serve_fn(srv.max_batch)
    for batch in range(1, srv.max_batch + 1):  # every shape once: kernels are picked per shape
        serve(batch)
    for _ in range(bench.burn_in):
        serve(1)
    slo_s, max_wait_s = srv.slo_ms / 1000, srv.max_wait_ms / 1000

    def probe(qps: float) -> dict[str, Any]:
        queries = server.probe_queries(qps, srv.min_queries, srv.min_duration_s)
        meter = EnergyMeter(work.device)
        with meter.window():
            figures = server.run_at(serve, qps, queries, seed, srv.max_batch, max_wait_s, slo_s)
        return {**figures, **meter.figures(queries)}

    def once() -> dict[str, Any]:
        if not srv.search_qps:
            return {**probe(srv.target_qps), F.max_qps_at_slo: None, F.qps_probes: None}
        qps_max = srv.qps_max or capacity_qps(serve, srv.max_batch)
        qps_min = srv.qps_min or qps_max / 4
        if qps_min >= qps_max:  # a given qps_min at or above the measured capacity: search above it
            log.info("bench.server.qps_min=%g is not below the worker's capacity (%.2f QPS); searching up to %g",
                     qps_min, qps_max, 2 * qps_min)
            qps_max = 2 * qps_min
        print(f"server: searching offered QPS in [{qps_min:.2f}, {qps_max:.2f}] for a p99 within {slo_s:.4f} s")
        # a range bottom of our own choosing steps down when it misses; one the user gave is a floor
        return server.search_qps(probe, qps_min, qps_max, srv.search_steps,
                                 down_steps=SEARCH_DOWN_STEPS if srv.qps_min is None else 0)

    runs = [once() for _ in range(bench.repeats)]
    # the record's figures are one whole repeat's: the median one (by max QPS at the SLO, else by p99)
    key = F.max_qps_at_slo if srv.search_qps else F.latency_p99_s
    figures = sorted(runs, key=lambda f: -1.0 if f[key] is None else f[key])[(len(runs) - 1) // 2]
    figures.update({F.repeat_max_qps_at_slo: [f[F.max_qps_at_slo] for f in runs],
                    F.repeat_latency_p99_s: [f[F.latency_p99_s] for f in runs]})
    return {**figures, F.images_per_s: figures[F.qps_achieved], F.batch_size: srv.max_batch}


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
