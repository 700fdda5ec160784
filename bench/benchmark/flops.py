"""Cost figures: parameters, MACs per image (counted by ``torch.utils.flop_counter``), and device peaks.

Achieved TFLOP/s divides counted FLOPs (2 per multiply-accumulate) by measured time; utilisation
divides that by the device's peak for the precision that really ran. GPU peaks are vendor datasheet
figures (dense, no sparsity). On CPU the peak is a GEMM measured once per CPU/threads/torch/precision
and cached, so the utilisation of a CPU is relative to what its BLAS reaches on a large matmul.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightning_modules.zoo import AuxHead

from bench.job.environment import cpu_model

# Dense peak TFLOP/s by precision; "tf32" is what fp32 convolutions/matmuls use on Ampere+ when TF32 is on.
# Sources: NVIDIA datasheets (H100 SXM5/PCIe, H200, A100, A10, L4, L40S, V100, T4).
GPU_PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100 80GB HBM3": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},  # SXM5
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0},
    "H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0, "fp16": 362.0},
    "L4": {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0},
    "V100": {"fp32": 15.7, "fp16": 125.0},
    "T4": {"fp32": 8.1, "fp16": 65.0},
}
CPU_PEAK_CACHE = Path.home() / ".cache" / "inception-bench" / "cpu_peak.json"


def count_params(model: nn.Module, aux: bool = True) -> int:
    """Parameters of ``model``; ``aux=False`` leaves out auxiliary heads (unused at inference, not in papers' counts)."""
    skipped = set() if aux else {id(p) for m in model.modules() if isinstance(m, AuxHead) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in skipped)


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of ``step`` (forward, or forward + backward) as counted by FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def gpu_peak_tflops(name: str, precision: str) -> float | None:
    """Datasheet peak for a GPU name as CUDA reports it (longest matching key wins), or None if unknown."""
    for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
        if key in name:
            return GPU_PEAK_TFLOPS[key].get(precision)
    return None


def measure_cpu_peak_tflops(dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` TFLOP/s of a square matmul: the attainable peak of this CPU's BLAS."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


def cpu_peak_tflops(precision: str, cache: Path = CPU_PEAK_CACHE) -> float:
    """Measured CPU GEMM peak, cached per CPU model, thread count, torch version and precision."""
    key = f"{cpu_model()}|threads={torch.get_num_threads()}|torch={torch.__version__}|{precision}"
    try:
        cached = json.loads(cache.read_text())
    except (OSError, ValueError):
        cached = {}
    if key not in cached:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        cached[key] = measure_cpu_peak_tflops(dtype)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(cached, indent=1))
    return cached[key]


def peak_precision(device: torch.device, precision: str) -> str:
    """The precision whose peak applies: fp32 on CUDA runs on TF32 tensor cores when cuDNN allows it
    (``bench.tf32`` sets cuDNN's and cuBLAS's switch together) on an Ampere or newer GPU."""
    major = torch.cuda.get_device_capability(device)[0] if device.type == "cuda" else None
    return "tf32" if runs_tf32(precision, torch.backends.cudnn.allow_tf32, major) else precision


def runs_tf32(precision: str, tf32_allowed: bool, capability_major: int | None) -> bool:
    """Whether fp32 math runs as TF32: asked for fp32, TF32 allowed, on a GPU of compute capability 8 or more."""
    return precision == "fp32" and tf32_allowed and capability_major is not None and capability_major >= 8
