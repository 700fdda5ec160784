"""The GPU suite's ``summary.md``: one table per kind of result, the issue's goals, skips and errors.

Rows are what ``tools.gpu_suite`` measured; nothing here measures. Rendered again after every job, so a
suite stopped by a timeout still leaves a summary of what it did.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.status import Status

# The issue's goals (issue 13): ours/timm, compiled bf16 MFU, Lightning/bare, event vs wall on the TF-book runs.
GOAL_TIMM_RATIO = 1.0
GOAL_MFU = 0.25
GOAL_LIGHTNING_RATIO = 0.95
GOAL_EVENT_WALL = 0.02
SKIPPED = "skipped"  # a skip row's status: the suite's own, not a job's (no record was written)
PART_TITLES = {  # the suite's parts in priority order: what matters most runs first while the budget lasts
    "harness": "Harness paths: README default, TF-book preset, forward_backward; events vs wall clock",
    "oom": "A batch that cannot fit, then the next job",
    "precision": "Inception-v3 forward: precision x layout, eager",
    "timm": "Ours vs timm benchmark.py (same process tree, same settings)",
    "lightning": "Lightning trainer vs a bare PyTorch loop",
    "compile": "Inception-v3 forward, bf16 channels_last: compiled modes and CUDA graphs",
    "timm_compiled": "Ours vs timm benchmark.py, compiled (torch.compile default mode)",
    "zoo": "The zoo's throughput table: bf16 channels_last compiled",
    "autotune": "Inception-v3 forward, bf16 channels_last: max-autotune",
}


@dataclass
class Row:
    """One result: ``kind`` picks its table (bench, pair, timm, lightning, oom, skip, error)."""

    part: str
    label: str
    kind: str
    status: str
    fields: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _num(value: Any, fmt: str = ".4g", scale: float = 1.0) -> str:
    return "—" if value is None else format(value * scale, fmt)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _short(text: str, limit: int = 140) -> str:
    """A table cell's note; the whole text stays in records.jsonl."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


Column = tuple[str, Callable[[Row], str]]
BENCH: list[Column] = [
    ("job", lambda r: r.label), ("status", lambda r: r.status), ("model", lambda r: str(r.fields.get("model"))),
    ("mode", lambda r: str(r.fields.get("mode"))), ("batch", lambda r: str(r.fields.get("batch_size"))),
    ("precision (peak)", lambda r: f"{r.fields.get('precision')} ({r.fields.get('peak_precision', '—')})"),
    ("layout", lambda r: str(r.fields.get("memory_format"))), ("compile", lambda r: str(r.fields.get("compile"))),
    ("img/s", lambda r: _num(r.fields.get("images_per_s"), ".1f")),
    ("ms/step", lambda r: _num(r.fields.get("mean_s"), ".2f", 1e3)),
    ("TFLOP/s", lambda r: _num(r.fields.get("achieved_tflops"), ".4g")),
    ("util", lambda r: _pct(r.fields.get("utilization"))),
    ("mem MB", lambda r: _num(r.fields.get("peak_memory_mb"), ".0f")),
    ("note", lambda r: _short(r.note or r.fields.get("error") or "")),
]
PAIR: list[Column] = [
    ("job", lambda r: r.label), ("steps", lambda r: str(r.fields.get("steps"))),
    ("event ms", lambda r: _num(r.fields.get("event_mean_s"), ".3f", 1e3)),
    ("wall ms", lambda r: _num(r.fields.get("wall_mean_s"), ".3f", 1e3)),
    ("wall/event", lambda r: _num(r.fields.get("wall_over_event"), ".4f")),
    ("harness record ms", lambda r: _num(r.fields.get("record_mean_s"), ".3f", 1e3)),
    ("record/suite", lambda r: _num(r.fields.get("record_over_suite"), ".4f")),
    ("verdict", lambda r: r.note),
]
TIMM: list[Column] = [
    ("model", lambda r: r.label), ("bench", lambda r: str(r.fields.get("bench"))),
    ("settings", lambda r: str(r.fields.get("settings"))),
    ("ours img/s", lambda r: _num(r.fields.get("ours_images_per_s"), ".1f")),
    ("timm img/s", lambda r: _num(r.fields.get("timm_images_per_s"), ".1f")),
    ("ours/timm", lambda r: _num(r.fields.get("ours_over_timm"), ".3f")),
    ("ours util", lambda r: _pct(r.fields.get("ours_utilization"))), ("note", lambda r: r.note),
]
LIGHTNING: list[Column] = [
    ("job", lambda r: r.label), ("status", lambda r: r.status),
    ("Lightning img/s", lambda r: _num(r.fields.get("lightning_images_per_s"), ".1f")),
    ("bare img/s", lambda r: _num(r.fields.get("bare_images_per_s"), ".1f")),
    ("Lightning/bare", lambda r: _num(r.fields.get("lightning_over_bare"), ".3f")),
    ("loader alone img/s", lambda r: _num(r.fields.get("loader_images_per_s"), ".1f")),
    ("steps", lambda r: str(r.fields.get("bare_steps"))), ("note", lambda r: r.note),
]
OOM: list[Column] = [
    ("check", lambda r: r.label),
    ("too-big job", lambda r: f"{r.fields.get('oom_status')} at batch {r.fields.get('oom_batch')}"),
    ("img/s before", lambda r: _num(r.fields.get("before_images_per_s"), ".1f")),
    ("img/s after", lambda r: _num(r.fields.get("after_images_per_s"), ".1f")),
    ("after/before", lambda r: _num(r.fields.get("after_over_before"), ".3f")),
    ("allocated MB before/after (reserved after)", lambda r: f"{_num(r.fields.get('allocated_mb_before'), '.0f')} / "
     f"{_num(r.fields.get('allocated_mb_after'), '.0f')} ({_num(r.fields.get('reserved_mb_after'), '.0f')})"),
    ("verdict", lambda r: r.note),
]
TABLES = {"bench": BENCH, "pair": PAIR, "timm": TIMM, "lightning": LIGHTNING, "oom": OOM}


def is_failure(row: Row) -> bool:
    """An error row, or a job that ended other than ok / oom (an oom is a result, not a failure)."""
    return row.kind == "error" or row.status not in (Status.OK, Status.OOM, SKIPPED)


def table(rows: list[Row], columns: list[Column]) -> list[str]:
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r).replace("|", "/") for _, cell in columns) + " |" for r in rows]
    return lines


def goals(rows: list[Row], dry_run: bool) -> list[str]:
    """Each goal of the issue with what this run reached (or that it was not measured)."""
    def values(kind: str, key: str, keep: Callable[[Row], bool] = lambda r: True) -> list[Any]:
        return [r.fields[key] for r in rows if r.kind == kind and r.fields.get(key) is not None and keep(r)]

    def line(goal: str, found: list[float], reached: bool, shown: str, missing: str = "") -> str:
        verdict = f"{'reached' if reached else 'NOT reached'} ({shown})"
        return f"- {goal}: " + (verdict if found else f"not measured{missing}")

    timm = values("timm", "ours_over_timm")
    mfu = values("bench", "utilization",
                 lambda r: r.part in ("compile", "autotune") and r.fields.get("precision") == "bf16")
    light = values("lightning", "lightning_over_bare")
    pairs = values("pair", "wall_over_event", lambda r: r.label.startswith("tf_book"))
    title = "## Goals (issue 13)" + (": a dry run measures nothing, it shows the paths run" if dry_run else "")
    return [
        title, "",
        line(f"ours ≥ {GOAL_TIMM_RATIO}× timm on every pair", timm, min(timm, default=0) >= GOAL_TIMM_RATIO,
             f"lowest {min(timm, default=0):.3f} of {len(timm)} pairs"),
        line(f"Inception-v3 bf16 channels_last compiled ≥ {GOAL_MFU:.0%} of the dense bf16 peak", mfu,
             max(mfu, default=0) >= GOAL_MFU, f"best {max(mfu, default=0):.1%}"),
        line(f"Lightning ≥ {GOAL_LIGHTNING_RATIO}× the bare loop", light,
             min(light, default=0) >= GOAL_LIGHTNING_RATIO, f"{min(light, default=0):.3f}"),
        line(f"CUDA events vs wall clock within {GOAL_EVENT_WALL:.0%} on the TF-book run", pairs,
             all(abs(p - 1) <= GOAL_EVENT_WALL for p in pairs), "wall/event " + ", ".join(f"{p:.4f}" for p in pairs),
             " (no CUDA events on this device)"),
    ]


def render(rows: list[Row], header: list[str], parts: dict[str, str], dry_run: bool = False) -> str:
    """The whole summary: header lines, then each part's tables in suite order, goals, skips, errors."""
    out = [*header, ""]
    for part, title in parts.items():
        mine = [r for r in rows if r.part == part and r.kind != "skip"]  # skips are listed at the end
        if not mine:
            continue
        out += [f"## {title}", ""]
        for kind, columns in TABLES.items():
            of_kind = [r for r in mine if r.kind == kind]
            if of_kind:
                out += [*table(of_kind, columns), ""]
    out += goals(rows, dry_run)
    skipped = [r for r in rows if r.kind == "skip"]
    errors = [r for r in rows if is_failure(r)]
    out += ["", f"## Skipped ({len(skipped)})", ""] + [f"- {r.part}/{r.label}: {r.note}" for r in skipped]
    out += ["", f"## Errors ({len(errors)})", ""]
    out += [f"- {r.part}/{r.label}: {r.note or r.fields.get('error')}" for r in errors]
    return "\n".join(out) + "\n"
