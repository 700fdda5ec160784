"""What every scenario times: one model on one device, its synthetic inputs and the timed step.

A ``Workload`` is built once per benchmark job; scenarios ask it for a step at a batch size (tf_book,
offline) or for a ``serve`` function that runs a batch of waiting queries and returns when the device is
done (single_stream, server). Inputs are made on the device before any clock starts.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from bench.benchmark.timing import synchronize
from contracts.errors import ConfigError
from contracts.record import Backend

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "can't allocate memory" in str(exc))
    )


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    dtype = PRECISIONS[precision]
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


def check_flag(option: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{option} must be true or false, got {value!r}")


@contextlib.contextmanager
def backend_flags(tf32: bool, cudnn_benchmark: bool) -> Iterator[None]:
    """TF32 for cuDNN convolutions and cuBLAS matmuls, and cuDNN's autotuner, for one job; restored after it.

    Global torch state: restoring it keeps one job's choice from leaking into the next job of a process.
    """
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = saved


def backend_state(tf32_ran: bool) -> dict[str, Any]:
    """The switches in force (what the record says ran): TF32 for convolutions / matmuls, cuDNN's autotuner."""
    return asdict(Backend(torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
                                torch.backends.cudnn.benchmark, tf32_ran))


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


@dataclass
class Workload:
    """The model ready on its device, with what a scenario needs to make steps of any batch size."""

    model: nn.Module
    device: torch.device
    shape: tuple[int, int, int]  # (channels, height, width) of one image
    mode: str
    precision: str
    channels_last: bool
    model_cfg: dict[str, Any] = field(default_factory=dict)  # to rebuild the model in a probe process
    on_step: Callable[[], None] = lambda: None  # progress: steps / queries done (an interrupted record says how far)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def inputs(self, batch: int) -> torch.Tensor:
        return torch.randn(batch, *self.shape, device=self.device).to(memory_format=self.memory_format)

    def step(self, batch: int) -> Callable[[], Any]:
        step = make_step(self.model, self.inputs(batch), self.mode, autocast_for(self.device, self.precision))

        def counted() -> Any:
            out = step()
            self.on_step()
            return out
        return counted

    def first_call(self, batch: int) -> float:
        """Seconds of one untimed step at ``batch``, synchronised: a compiled model's compilation (and on a GPU
        cuDNN's autotuning, lazy initialisation) happen here, before any scenario's burn-in or timed step."""
        step = make_step(self.model, self.inputs(batch), self.mode, autocast_for(self.device, self.precision))
        synchronize(self.device)
        start = time.perf_counter()
        step()
        synchronize(self.device)
        return time.perf_counter() - start

    def serve_fn(self, max_batch: int) -> Callable[[int], None]:
        """``serve(n)``: run the first ``n`` of ``max_batch`` preallocated queries and wait for the device.

        Slicing the batch dimension keeps an NHWC tensor contiguous, so no copy enters the timed call.
        """
        x = self.inputs(max_batch)
        autocast = autocast_for(self.device, self.precision)

        def serve(n: int) -> None:
            with torch.inference_mode(), autocast:
                self.model(x[:n])
            synchronize(self.device)
            self.on_step()
        return serve
