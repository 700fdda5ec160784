"""The GPU suite's job runner: guarded jobs of the harness within a time budget, rows kept and summarised.

Jobs go through the harness's public entry point (``run.run_task`` on a config composed from ``conf/``),
so the suite measures exactly what ``python run.py`` runs. Used by tools/gpu_parts.py and tools/gpu_suite.py.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import contracts.config  # noqa: F401  (registers the config schemas before any composition)
from bench.benchmark.machine import gpu_state
from contracts.status import Status
from tools.gpu_report import SKIPPED, Row, is_failure, render

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"


@dataclass(frozen=True)
class Part:
    """One part of the suite: its name (``--parts``), its summary section's title, and what it runs."""

    name: str
    title: str
    run: Callable[[Suite], None]


@dataclass(frozen=True)
class Sizes:
    """What the suite runs at: the GPU sizes, or the tiny dry run's (tools/gpu_suite.py defines both)."""

    tiny: bool
    model: str                 # the model of the Inception-v3 rows
    size: list[str]            # its input-size override (none: the model's own)
    batch: int
    matrix: tuple[tuple[str, bool], ...]  # (precision, channels_last) rows of the precision part
    steps: int
    burn_in: int
    book: list[str]            # extra overrides of the TF-book preset
    train_step: list[str]      # the forward_backward run (README: bench=train_step)
    readme: list[str]          # extra arguments of the README's default command
    oom_batch: int
    zoo: tuple[str, ...]
    timm_models: tuple[str, ...]
    timm_size: list[str]       # input-size override of the timm pairs' models (none: their own)
    train: list[str]           # overrides of the Lightning-vs-bare training job
    serving: dict[str, list[str]]  # scenario -> its overrides (single_stream, server, offline)
    loader: list[str]          # the loader-mode training job's overrides (data.root is the suite's JPEG folder)
    jpegs: tuple[int, int]     # (images per class and split, side in pixels) of that folder
    profile: list[str]         # the profiled job's overrides
    pipeline: tuple[int, int, int, int, int, int]  # pipeline_bench: JPEGs, size, batch, N workers, rounds, batches
    compare_repeats: int       # bench.repeats of each side of the compare part
    est_scale: float           # the budget estimates are GPU seconds; scaled for the dry run


class Suite:
    """Runs guarded jobs within a time budget, keeps every row, and rewrites summary.md after each."""

    def __init__(self, out: Path, device: str, sizes: Sizes, budget_s: float, timm_script: Path | None,
                 titles: dict[str, str]) -> None:
        self.out, self.device, self.sizes, self.budget_s = out, device, sizes, budget_s
        self.timm_script, self.titles = timm_script, titles
        self.started = time.monotonic()
        self.rows: list[Row] = []
        self.done: dict[tuple[str, ...], Row] = {}  # ok jobs by overrides: the same job is reused
        self.best_batch: int | None = None  # the offline scenario's best batch, once it ran (the zoo's batch)
        self.torch_device = torch.device("cuda:0" if device == "cuda" else "cpu")
        self.state_start = card_state(self.torch_device)
        out.mkdir(parents=True, exist_ok=True)
        (out / "records.jsonl").write_text("")

    # ----------------------------------------------------------------------------- bookkeeping
    def remaining(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        with (self.out / "records.jsonl").open("a") as f:
            f.write(json.dumps({"part": row.part, "label": row.label, "kind": row.kind, "status": row.status,
                                "note": row.note, **row.fields}, default=str) + "\n")
        self.write_summary()
        print(f"[{time.monotonic() - self.started:6.1f}s] {row.part}/{row.label}: {row.status}"
              f"{' - ' + row.note if row.note else ''}", flush=True)
        return row

    def skip(self, part: str, label: str, why: str) -> None:
        self.add(Row(part, label, "skip", SKIPPED, note=why))

    def fits(self, part: str, label: str, est_s: float, needs_cuda: bool = False) -> bool:
        """Whether a job may start: on cuda if it needs it, and with its estimated time left in the budget."""
        if needs_cuda and self.device != "cuda":
            self.skip(part, label, "runs on cuda only (compiled modes, CUDA graphs, TF32, GPU decode)")
            return False
        est = est_s * self.sizes.est_scale
        if self.remaining() < est:
            self.skip(part, label, f"time budget: needs ~{est:.0f} s, {max(self.remaining(), 0):.0f} s left")
            return False
        return True

    def guarded(self, part: str, label: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None with an error row (and the traceback in errors.log) if it raises."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one part's failure must not end the suite
            with (self.out / "errors.log").open("a") as f:
                f.write(f"=== {part}/{label}\n{traceback.format_exc()}\n")
            self.add(Row(part, label, "error", Status.ERROR, note=f"{type(exc).__name__}: {exc}".splitlines()[0]))
            return None

    def add_guarded(self, part: str, label: str, fn: Callable[[], Row]) -> Row | None:
        """``guarded`` for a job that makes one row: the row is added (an exception adds an error row)."""
        row = self.guarded(part, label, fn)
        return None if row is None else self.add(row)

    def release_gpu_cache(self) -> None:
        """Hand this process's cached GPU memory back before a child process (timm, the CLI) needs the card."""
        if self.device == "cuda":
            torch.cuda.empty_cache()

    def compose(self, overrides: list[str]) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=overrides)

    def bench_overrides(self, *extra: str) -> list[str]:
        return ["logger=none", f"bench.device={self.device}", "bench.log_every=0", *extra]

    # ----------------------------------------------------------------------------- one harness job
    def bench(self, part: str, label: str, overrides: list[str], est_s: float, *, fresh: bool = False,
              needs_cuda: bool = False, kind: str = "bench", note: str = "") -> Row | None:
        """Run one job of the harness in this process (``run.run_task``); its record becomes a row of ``kind``.

        A job already run ok with the same overrides is reused unless ``fresh``. The record carries what
        the job ran with (TF32, cuDNN autotuner, compile graphs, clocks); nothing is set from outside.
        """
        from run import run_task

        key = tuple(overrides)
        if not fresh and key in self.done:
            same = self.done[key]
            said = "; ".join(filter(None, (note, f"same job as {same.part}/{same.label}")))
            return self.add(Row(part, label, kind, same.status, same.fields, said))
        if not self.fits(part, label, est_s, needs_cuda):
            return None

        def job() -> Row:
            record = run_task(self.compose(overrides), self.out / "jobs" / f"{part}-{label}")
            fields = {**{k: v for k, v in record.items() if k != "config"}, "suite_overrides": overrides}
            said = [note]
            if record.get("compile_graphs") is not None and (record["compile_graphs"] != 1 or
                                                             record["compile_graph_breaks"]):
                said.append(f"{record['compile_graphs']} graphs, {record['compile_graph_breaks']} graph breaks")
            return Row(part, label, kind, str(record["status"]), fields, "; ".join(filter(None, said)))

        row = self.add_guarded(part, label, job)
        if row is not None and row.status == Status.OK:
            self.done.setdefault(key, row)  # the first clean run stands (oom/after is not reused)
        return row

    # ----------------------------------------------------------------------------- summary
    def write_summary(self) -> None:
        name = torch.cuda.get_device_name(self.torch_device) if self.device == "cuda" else "cpu"
        header = [
            f"# GPU suite: {name} ({self.device}{', tiny dry run' if self.sizes.tiny else ''})", "",
            f"- when: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; torch {torch.__version__}; "
            f"cuda {torch.version.cuda}; cudnn {torch.backends.cudnn.version() if self.device == 'cuda' else None}",
            f"- commit: {git_commit()}; results folder for the repo: docs/results/{gpu_slug(name)}/",
            "- each job sets TF32 and cuDNN's autotuner from its bench.tf32 / bench.cudnn_benchmark (default on, as "
            "timm's benchmark.py) and records them; the fp32 row runs bench.tf32=false",
            f"- card at start: {self.state_start or 'n/a'}",
            f"- card now: {card_state(self.torch_device) or 'n/a'}",
            f"- budget {self.budget_s:.0f} s, used {time.monotonic() - self.started:.0f} s; every row in "
            f"records.jsonl, tracebacks in errors.log",
        ]
        (self.out / "summary.md").write_text(render(self.rows, header, self.titles, dry_run=self.sizes.tiny))

    def failures(self) -> list[Row]:
        return [r for r in self.rows if is_failure(r)]


def card_state(device: torch.device) -> dict[str, Any]:
    """The GPU's clocks, power limit, temperature (NVML, read only); {} off a GPU or where NVML is absent."""
    if device.type != "cuda":
        return {}
    return {k: v for k, v in gpu_state(device).items() if v is not None}


def gpu_slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``: the results folder of a device."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown (no git here)"
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git here)"


def job(s: Suite, precision: str, channels_last: bool, compile_mode: str | bool = False, *, model: str | None = None,
        size: list[str] | None = None, batch: int | None = None, mode: str = "forward", tf32: bool = True
        ) -> list[str]:
    """Overrides of one benchmark job at the suite's sizes (default: the Inception-v3 rows' model)."""
    z = s.sizes
    return s.bench_overrides(f"model={model or z.model}", *(z.size if size is None else size),
                             f"bench.batch_size={batch or z.batch}", f"bench.steps={z.steps}",
                             f"bench.burn_in={z.burn_in}", f"bench.mode={mode}", f"bench.precision={precision}",
                             f"bench.channels_last={str(channels_last).lower()}",
                             f"bench.compile={'false' if compile_mode is False else compile_mode}",
                             f"bench.tf32={str(tf32).lower()}")
