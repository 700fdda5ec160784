"""The offline scenario's batch search: the search itself, real peak memory in probe processes, and the
rule that a batch the user gave is never changed."""
from __future__ import annotations

from pathlib import Path

import torch

from bench.benchmark import batch_search
from bench.benchmark.batch_search import GIB, Probe, candidate_batches, find_max_batch
from bench.benchmark.workload import Workload
from bench.job.record import read_record
from run import run_task
from helpers import TEST_NET

MIB_PER_IMAGE = 40
# The stand-in net holds 40 MiB per image in its forward (tests/standin_nets.py).
MEMORY_JOB = (*TEST_NET, "model._target_=tests.standin_nets.memory_net", f"+model.mib_per_image={MIB_PER_IMAGE}",
              "bench=offline", "bench.burn_in=1", "bench.offline.blocks=2", "bench.offline.block_steps=2", "bench.threads=1")


def test_search_doubles_then_bisects_to_the_largest_fit() -> None:
    tried: list[int] = []

    def probe(batch: int) -> Probe:
        tried.append(batch)
        return Probe(batch, batch <= 37, None)

    assert find_max_batch(probe, limit=512) == (37, [Probe(b, b <= 37, None) for b in tried])
    assert tried == [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]


def test_search_stops_at_the_limit_and_says_none_when_nothing_fits() -> None:
    assert find_max_batch(lambda b: Probe(b, True, None), limit=24)[0] == 24
    best, probes = find_max_batch(lambda b: Probe(b, False, None, "out of memory"), limit=24)
    assert best is None and [p.batch_size for p in probes] == [1]


def test_candidates_are_powers_of_two_and_the_largest_fit() -> None:
    assert candidate_batches(1) == [1]
    assert candidate_batches(8) == [1, 2, 4, 8]
    assert candidate_batches(12) == [1, 2, 4, 8, 12]


def memory_workload(compose_cfg) -> Workload:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = compose_cfg(*MEMORY_JOB)
    model = instantiate(cfg.model)
    return Workload(model, torch.device("cpu"), (3, 8, 8), "forward", "fp32", True,
                    OmegaConf.to_container(cfg.model, resolve=True))


def test_cpu_search_finds_the_largest_batch_within_max_memory_gb(compose_cfg, tmp_path: Path) -> None:
    # Measure batch 1's real peak in a probe process, then allow 5.5 images more: batch 6 fits, 7 does not.
    one = batch_search.cpu_probe(memory_workload(compose_cfg), limit=None)(1)
    assert one.fits and one.peak_bytes > MIB_PER_IMAGE * 2**20
    limit_gb = (one.peak_bytes + 5.5 * MIB_PER_IMAGE * 2**20) / GIB
    record = run_task(compose_cfg(*MEMORY_JOB, f"bench.offline.max_memory_gb={limit_gb}"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["batch_size_max_fit"] == 6
    assert [t["batch_size"] for t in record["batch_sizes_tried"]] == [1, 2, 4, 6]
    best = max(record["batch_sizes_tried"], key=lambda t: t["images_per_s"])
    assert record["batch_size_best"] == record["batch_size"] == best["batch_size"]
    assert record["images_per_s"] == best["images_per_s"]


def test_a_given_batch_that_does_not_fit_is_oom_with_that_batch(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*MEMORY_JOB, "bench.batch_size=32", "bench.offline.max_memory_gb=1"), tmp_path)
    assert record["status"] == "oom" and "batch size 32 does not fit" in record["error"]
    on_disk = read_record(tmp_path / "record.json")
    assert on_disk["batch_size"] == 32 and on_disk.get("images_per_s") is None and "block_times_s" not in on_disk


def test_a_given_batch_that_fits_is_timed_as_given(compose_cfg, tmp_path: Path) -> None:
    record = run_task(compose_cfg(*MEMORY_JOB, "bench.batch_size=3", "bench.offline.max_memory_gb=4"), tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["batch_size"] == 3 and record["batch_size_max_fit"] is None
    assert len(record["block_times_s"]) == 2
    assert record["images_per_s"] == 3 * 2 * 2 / sum(record["block_times_s"])
