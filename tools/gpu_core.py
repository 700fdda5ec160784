"""The GPU suite's job runner: guarded jobs of the harness within a time budget, rows kept and summarised.

Jobs go through the harness's public entry point (``run.run_task`` on a config composed from ``conf/``),
so the suite measures exactly what ``python run.py`` runs. Used by tools/gpu_parts.py and tools/gpu_suite.py.
"""
from __future__ import annotations

import contextlib
import json
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
from tools import gpu_checks
from contracts.status import Status
from tools.gpu_report import PART_TITLES, SKIPPED, Row, is_failure, render

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"


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
    est_scale: float           # the budget estimates are GPU seconds; scaled for the dry run


class Suite:
    """Runs guarded jobs within a time budget, keeps every row, and rewrites summary.md after each."""

    def __init__(self, out: Path, device: str, sizes: Sizes, budget_s: float, timm_script: Path | None) -> None:
        self.out, self.device, self.sizes, self.budget_s = out, device, sizes, budget_s
        self.timm_script = timm_script
        self.started = time.monotonic()
        self.rows: list[Row] = []
        self.done: dict[tuple[str, ...], Row] = {}  # ok jobs by overrides + variant: the same job is reused
        self.torch_device = torch.device("cuda:0" if device == "cuda" else "cpu")
        self.state_start = gpu_checks.gpu_state(self.torch_device)
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
            self.skip(part, label, "runs on cuda only (compiled modes, CUDA graphs, TF32)")
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

    def compiled(self) -> contextlib.AbstractContextManager[dict[str, int]]:
        return gpu_checks.compile_counter(reset=True)

    # ----------------------------------------------------------------------------- one harness job
    def bench(self, part: str, label: str, overrides: list[str], est_s: float, *, variant: str = "",
              fresh: bool = False, needs_cuda: bool = False,
              setup: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext) -> Row | None:
        """Run one job of the harness in this process (``run.run_task``); its record becomes a row.

        A job already run ok with the same overrides and ``variant`` is reused unless ``fresh``.
        """
        from run import run_task

        key = (*overrides, variant)
        if not fresh and key in self.done:
            same = self.done[key]
            return self.add(Row(part, label, "bench", same.status, same.fields,
                                f"same job as {same.part}/{same.label}"))
        if not self.fits(part, label, est_s, needs_cuda):
            return None

        def job() -> Row:
            cfg = self.compose(overrides)
            with setup() as extra:
                flags = gpu_checks.tf32_state()  # as the job ran, inside its setup
                record = run_task(cfg, self.out / "jobs" / f"{part}-{label}")
            extra = extra or {}  # compiled jobs: graphs compiled and graph breaks (filled in on exit)
            fields = {**{k: v for k, v in record.items() if k != "config"}, **extra, **flags,
                      "suite_overrides": overrides}
            note = variant
            if extra and (extra["graphs_compiled"] != 1 or extra["graph_breaks"]):
                note = f"{note} {extra['graphs_compiled']} graphs, {extra['graph_breaks']} graph breaks".strip()
            return Row(part, label, "bench", str(record["status"]), fields, note)

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
            f"- commit: {git_commit()}; results folder for the repo: docs/results/{gpu_checks.gpu_slug(name)}/",
            f"- torch flags outside the jobs: {gpu_checks.tf32_state()} (the harness sets none of them; the fp32 and "
            f"tf32 rows set TF32 off / on for their job)",
            f"- card at start: {self.state_start or 'n/a'}",
            f"- card now: {gpu_checks.gpu_state(self.torch_device) or 'n/a'}",
            f"- budget {self.budget_s:.0f} s, used {time.monotonic() - self.started:.0f} s; every row in "
            f"records.jsonl, tracebacks in errors.log",
        ]
        (self.out / "summary.md").write_text(render(self.rows, header, PART_TITLES, dry_run=self.sizes.tiny))

    def failures(self) -> list[Row]:
        return [r for r in self.rows if is_failure(r)]


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown (no git here)"
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git here)"


def job(s: Suite, precision: str, channels_last: bool, compile_mode: str | bool = False, *, model: str | None = None,
        size: list[str] | None = None, batch: int | None = None, mode: str = "forward") -> list[str]:
    """Overrides of one benchmark job at the suite's sizes (default: the Inception-v3 rows' model)."""
    z = s.sizes
    return s.bench_overrides(f"model={model or z.model}", *(z.size if size is None else size),
                             f"bench.batch_size={batch or z.batch}", f"bench.steps={z.steps}",
                             f"bench.burn_in={z.burn_in}", f"bench.mode={mode}", f"bench.precision={precision}",
                             f"bench.channels_last={str(channels_last).lower()}",
                             f"bench.compile={'false' if compile_mode is False else compile_mode}")
