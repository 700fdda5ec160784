"""``bench.input=loader``: is the run limited by the model or by its input pipeline?

One job measures three throughputs in one process with the configured ``data=`` DataModule and its workers:
the pipeline alone (file read, decode, worker transforms, the batch's copy to the device and its on-device
augmentation and normalisation, as in training; no model), end to end (that, then the model's step) and the
model alone on the same input tensor. End to end and the
model alone are timed in turn, in a few alternating blocks, so that machine load changing during the job hits
both alike instead of faking or hiding a bound. The run is data-bound when end to end is below 0.9 x the
model alone.

Each block of end-to-end steps starts a fresh pass of the loader (its first step, which waits for the
workers to restart, is not timed), so batches the workers prefetched while the model ran alone do not
flatter it. A dataset smaller than the steps asked for is read again; the record counts the distinct images
the sampler handed out.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Sized
from dataclasses import asdict
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from lightning_modules.data import DECODE_CHOICES
from lightning_modules.loader_stall import failing_on_stall
from lightning_modules.throughput import DATA_BOUND_RATIO, batch_step_words

from bench.benchmark.phase import retimed
from bench.benchmark.timing import time_steps
from contracts.errors import ConfigError, check_choice
from contracts.record import F, Loader

REAL_DATA = "imagefolder, imagenet, mnist or digits"
ROUNDS = 3  # alternating blocks of end-to-end and model-alone steps


def check(cfg: DictConfig, device: torch.device) -> None:
    """What loader mode needs of the data set and the device, before any work (the bench options themselves are
    the schema's, ``contracts.config.BenchConfig``; the data set's files are checked by ``Feed``)."""
    bench = cfg.bench
    if bench.input != "loader":
        return
    data = cfg.data
    if data.name == "synthetic":
        raise ConfigError(f"bench.input=loader needs a real dataset (data={REAL_DATA}); "
                          "data=synthetic has no input pipeline to time")
    check_choice("data.decode", data.decode, DECODE_CHOICES)
    if data.decode == "gpu" and device.type != "cuda":
        raise ConfigError(f"data.decode=gpu needs a CUDA device; bench.device={bench.device} runs on {device}")
    if bench.mode == "forward" and data.eval_mode != "center":
        raise ConfigError(f"bench.input=loader feeds one view per image; data.eval_mode={data.eval_mode} "
                          "makes several (use data.eval_mode=center)")


class Delayed:
    """``fn`` after a wait: the per-image latency of slower storage (``bench.loader.read_latency_ms``)."""

    def __init__(self, fn: Callable[[Any], Any], seconds: float) -> None:
        self.fn, self.seconds = fn, seconds

    def __call__(self, item: Any) -> Any:
        time.sleep(self.seconds)
        return self.fn(item)


class RecordedSampler:
    """A sampler that remembers the indices it hands out: how many distinct images the run read."""

    def __init__(self, sampler: Sized) -> None:
        self.sampler, self.seen, self.handed_out = sampler, set(), 0

    def __iter__(self) -> Iterator[int]:
        for index in self.sampler:  # type: ignore[attr-defined]
            self.seen.add(index)
            self.handed_out += 1
            yield index

    def __len__(self) -> int:
        return len(self.sampler)


class Feed:
    """The configured DataModule's loader (train split for a training step, val for inference), read endlessly."""

    def __init__(self, cfg: DictConfig, model_info: Any, size: int, device: torch.device) -> None:
        bench = cfg.bench
        train = bench.mode != "forward"
        datamodule = instantiate(cfg.data, model_info=model_info, batch_size=bench.batch_size, input_size=size)
        datamodule.target_device = device  # data.augment_on=auto: the batch step in the workers for a CPU
        datamodule.setup("fit" if train else "validate")
        dataset = datamodule.train_set if train else datamodule.val_set
        delay_s = bench.loader.read_latency_ms / 1000
        self.name, self.device, self.decode = cfg.data.name, device, datamodule.decode
        self.datamodule, self.train = datamodule, train
        self.workers, self.dataset_size = datamodule.num_workers, len(dataset)
        if delay_s:  # every transform gets the file (or the array) first: the wait comes before the read
            dataset.transform = Delayed(dataset.transform, delay_s)
        loader = datamodule.train_dataloader() if train else datamodule.val_dataloader()
        if len(loader) == 0:
            raise ConfigError(f"the {'train' if train else 'val'} split of data={self.name} holds {len(dataset)} "
                              f"images, fewer than one batch of {bench.batch_size}")
        self.sampler = RecordedSampler(loader.batch_sampler.sampler)
        loader.batch_sampler.sampler = self.sampler
        self.loader = loader

    def batches(self) -> Iterator[torch.Tensor]:
        """Model-input batches on the device from a fresh pass of the loader, endlessly: what training's hooks make."""
        while True:
            with failing_on_stall(self.datamodule.timeout_s):
                for batch in self.loader:
                    yield self.datamodule.prepare_batch(batch, self.device, self.train)[0]

    def timed(self, consume: Callable[[torch.Tensor], object], device: torch.device, steps: int,
              burn_in: int) -> tuple[list[float], int]:
        """Step times of ``consume(next batch)`` over a fresh pass, and the images the timed steps consumed."""
        batches, sizes = self.batches(), []

        def one() -> None:
            images = next(batches)
            sizes.append(len(images))
            consume(images)

        times = time_steps(one, device, steps, burn_in, log_every=0)
        return times, sum(sizes[-steps:])

    def measure(self, step: Callable[[], Any], x: torch.Tensor, result: dict[str, Any], bench: DictConfig) -> dict[str, Any]:
        """Pipeline alone, then end to end and model alone in turn; the record's timed figures become end to end."""
        device, steps = self.device, bench.steps
        # the pipeline's first batch waits for the workers to start
        times, images = self.timed(lambda batch: None, device, steps, max(1, bench.burn_in))
        pipeline = images / sum(times)

        def to_model(batch: torch.Tensor) -> None:
            x[: len(batch)].copy_(batch)
            step()

        times, model_times, images = [], [], 0
        for block in (steps // ROUNDS + (i < steps % ROUNDS) for i in range(min(ROUNDS, steps))):
            block_times, block_images = self.timed(to_model, device, block, burn_in=1)
            times, images = times + block_times, images + block_images
            model_times += time_steps(step, device, block, 0, 0)
        end_to_end = images / sum(times)
        model = bench.batch_size / statistics.fmean(model_times)
        per_worker = pipeline / max(1, self.workers)
        figures = {F.input: "loader", **asdict(Loader(
            decode=self.decode, pipeline_images_per_s=pipeline, pipeline_images_per_s_per_worker=per_worker,
            model_images_per_s=model, data_bound=end_to_end < DATA_BOUND_RATIO * model,
            workers_needed=math.ceil(model / per_worker), distinct_images=len(self.sampler.seen),
        )), **self.datamodule.batch_step()}
        print(f"Loader (data={self.name}, {_workers(self.workers)}, decode={self.decode}, batch step: "
              f"{batch_step_words(figures)}): pipeline {pipeline:.1f} img/s "
              f"({per_worker:.1f} per worker), model alone {model:.1f} img/s, end to end {end_to_end:.1f} img/s")
        print(verdict(end_to_end, model, per_worker, self.workers, figures[F.workers_needed]))
        if self.sampler.handed_out > self.dataset_size:
            print(f"The dataset holds {self.dataset_size} images: the loader read it again "
                  f"({figures[F.distinct_images]} distinct images in {self.sampler.handed_out} reads)")
        return {**retimed(result, times, bench.batch_size, end_to_end), **figures}


def verdict(end_to_end: float, model: float, per_worker: float, workers: int, needed: int) -> str:
    """One line: which side limits the run, and how many workers would feed the model at its own speed."""
    ratio = end_to_end / model
    if ratio < DATA_BOUND_RATIO:
        return (f"Data-bound: end to end is {ratio:.2f} x the model alone; the input pipeline limits this run. "
                f"At {per_worker:.1f} img/s per worker, {_workers(needed)} (a core each) would feed the model "
                f"at its own speed; this run has {workers}.")
    return (f"Model-bound: end to end is {ratio:.2f} x the model alone; the model limits this run. "
            f"At {per_worker:.1f} img/s per worker, {_workers(needed)} would feed it; "
            f"this run has {workers}.")


def _workers(n: int) -> str:
    return f"{n} worker{'' if n == 1 else 's'}"
