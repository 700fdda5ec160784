"""``bench.batch_size=auto``: the largest batch that fits, found by doubling then bisection.

A probe runs two steps at a batch size and says whether it fit and the peak memory it took:
- CPU: in a child process forked from a fork server that has imported torch but run nothing, so the
  child's peak resident set (``VmHWM``) is that batch's own, the whole process's real peak, never lifted
  by an earlier probe (a process's ``ru_maxrss`` never goes down), and a probe that the kernel's
  OOM killer ends costs the child, not the benchmark. Fits when the peak is within ``max_memory_gb``.
- CUDA: in this process; an out-of-memory error means it does not fit, and the memory is released
  (tensors dropped, ``empty_cache``) before the next try. With ``max_memory_gb`` set, the allocator's
  peak reservation must also stay within it.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.benchmark.workload import Workload, is_oom

log = logging.getLogger(__name__)
DEFAULT_MEMORY_SHARE = 0.4  # of MemAvailable: a doubling probe past the limit still stays within what is free
GIB = 2**30


@dataclass
class Probe:
    batch_size: int
    fits: bool
    peak_bytes: int | None
    reason: str = ""


def available_memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_limit_bytes(max_memory_gb: float | None, device: torch.device) -> int | None:
    """The limit a probe's peak must stay within: the user's, else (CPU) a safe share of available RAM."""
    if max_memory_gb is not None:
        return int(max_memory_gb * GIB)
    if device.type == "cuda":
        return None  # the device's own memory: an OOM says it
    available = available_memory_bytes()
    return int(available * DEFAULT_MEMORY_SHARE) if available else None


def peak_rss_bytes() -> int:
    """This process's peak resident set: ``VmHWM`` (Linux), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def find_max_batch(probe: Callable[[int], Probe], limit: int) -> tuple[int | None, list[Probe]]:
    """Largest batch in [1, limit] that ``probe`` says fits (fits are taken as monotone in batch size).

    Doubles from 1 until a probe fails or ``limit`` is reached, then bisects between the last fit and the
    first failure. Returns (None, probes) when batch 1 does not fit.
    """
    probes: list[Probe] = []

    def fits(batch: int) -> bool:
        result = probe(batch)
        probes.append(result)
        details = [f"peak {result.peak_bytes / 2**20:.0f} MiB"] if result.peak_bytes else []
        details += [result.reason] if result.reason else []
        log.info("batch %d %s%s", batch, "fits" if result.fits else "does not fit",
                 f" ({', '.join(details)})" if details else "")
        return result.fits

    if not fits(1):
        return None, probes
    good, bad = 1, None
    while bad is None and good < limit:
        candidate = min(2 * good, limit)
        if fits(candidate):
            good = candidate
        else:
            bad = candidate
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good, probes


# --- CPU: a child process per probe ----------------------------------------------------------------------

def _cpu_probe_child(spec: dict[str, Any], batch: int, limit: int | None, conn: Any) -> None:
    """Runs in the probe process: build the model, run two steps at ``batch``, send (fits, peak, reason)."""
    import hydra

    try:
        torch.set_num_threads(spec["threads"])
        torch.manual_seed(0)
        model = hydra.utils.instantiate(spec["model_cfg"])
        work = Workload(model, torch.device("cpu"), tuple(spec["shape"]), spec["mode"], spec["precision"],
                        spec["channels_last"])
        model.to(memory_format=work.memory_format).train(spec["mode"] != "forward")
        step = work.step(batch)
        step()
        step()
        peak = peak_rss_bytes()
        fits = limit is None or peak <= limit
        conn.send((fits, peak, "" if fits else "over the limit"))
    except Exception as exc:
        if is_oom(exc):
            conn.send((False, peak_rss_bytes(), "out of memory"))
        else:  # the parent raises it: a bug is not "does not fit"
            conn.send((False, None, f"error: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"))
    finally:
        conn.close()


def fork_server(model_cfg: dict[str, Any]) -> Any:
    """The fork server (one per process): torch, Hydra and the model's module imported, no thread pool started.

    The preload list only counts when the server starts, at the first probe of the job.
    """
    ctx = multiprocessing.get_context("forkserver")
    target = str(model_cfg.get("_target_", ""))
    ctx.set_forkserver_preload([__name__, "hydra.utils", *([target.rsplit(".", 1)[0]] if "." in target else [])])
    return ctx


def cpu_probe(work: Workload, limit: int | None) -> Callable[[int], Probe]:
    spec = {"model_cfg": work.model_cfg, "shape": list(work.shape), "mode": work.mode, "precision": work.precision,
            "channels_last": work.channels_last, "threads": torch.get_num_threads()}

    def probe(batch: int) -> Probe:
        ctx = fork_server(spec["model_cfg"])
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_cpu_probe_child, args=(spec, batch, limit, send), daemon=True)
        child.start()
        send.close()
        try:
            fits, peak, reason = receive.recv()
        except EOFError:  # died without a word: the OOM killer, or a crash
            fits, peak, reason = False, None, "probe process died"
        child.join()
        if child.exitcode and child.exitcode < 0:
            fits, reason = False, f"probe process killed by signal {-child.exitcode}"
        if reason.startswith("error:"):
            raise RuntimeError(f"batch-size probe failed at batch {batch}: {reason[len('error: '):]}")
        return Probe(batch, fits, peak, reason)
    return probe


# --- CUDA: in this process, memory released between tries -------------------------------------------------

def cuda_probe(work: Workload, limit: int | None) -> Callable[[int], Probe]:
    def probe(batch: int) -> Probe:
        torch.cuda.reset_peak_memory_stats(work.device)
        step = None
        try:
            step = work.step(batch)
            step()
            step()
            torch.cuda.synchronize(work.device)
            peak = torch.cuda.max_memory_reserved(work.device)
            fits = limit is None or peak <= limit
            return Probe(batch, fits, peak, "" if fits else "over the limit")
        except Exception as exc:
            if not is_oom(exc):
                raise
            return Probe(batch, False, None, "out of memory")
        finally:
            del step  # the step holds the input batch and (training) the optimizer state
            gc.collect()
            torch.cuda.empty_cache()
    return probe


def probe_for(work: Workload, limit: int | None) -> Callable[[int], Probe]:
    return cuda_probe(work, limit) if work.device.type == "cuda" else cpu_probe(work, limit)


def candidate_batches(max_fit: int) -> list[int]:
    """Powers of two up to the largest fitting batch, and that batch itself."""
    batches = [2**k for k in range(max_fit.bit_length()) if 2**k <= max_fit]
    return batches if batches[-1] == max_fit else [*batches, max_fit]
