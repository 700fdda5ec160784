"""What actually ran: device resolution and the environment fingerprint every record carries."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
from dataclasses import asdict
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from contracts.errors import ConfigError
from contracts.record import Environment, F

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> cuda:0 when available else cpu; ``cpu``; ``cuda`` / ``cuda:N`` (checked to exist)."""
    spec = str(spec)
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} asked for, but no CUDA device is available here; use device=cpu or device=auto")
        device = torch.device("cuda:0" if spec == "cuda" else spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise ConfigError(f"unknown device {spec!r}; valid choices: auto, cpu, cuda, cuda:N")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout the harness runs from; (None, None) outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None


def environment(device: torch.device) -> dict[str, object]:
    """Versions, host and device facts: enough to tell apart runs from two machines or two installs."""
    commit, dirty = git_state()
    cuda = device.type == "cuda"
    facts = Environment(
        platform=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
        torchvision=_version("torchvision"),
        lightning=_version("lightning"),
        cuda=torch.version.cuda if cuda else None,
        cudnn=torch.backends.cudnn.version() if cuda else None,
        device=str(device),
        device_type=device.type,
        device_name=device_name(device),
        device_count=torch.cuda.device_count() if cuda else 1,
        cpu=cpu_model(),
        cpu_threads=torch.get_num_threads(),
        git_commit=commit,
        git_dirty=dirty,
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
    )
    return {F.host: socket.gethostname(), **asdict(facts)}  # host: Liveness's field, in the fingerprint too
