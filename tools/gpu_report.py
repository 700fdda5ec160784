"""The GPU suite's ``summary.md``: one table per kind of result, the issue's goals, skips and errors.

Rows are what ``tools.gpu_suite`` measured; nothing here measures. Rendered again after every job, so a
suite stopped by a timeout still leaves a summary of what it did.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.status import Status

# The goals (issues 13 and 21): ours/timm, compiled bf16 MFU, Lightning/bare, events vs wall clock on the
# TF-book runs, GPU-decode training not data-bound.
GOAL_TIMM_RATIO = 1.0
GOAL_MFU = 0.25
GOAL_LIGHTNING_RATIO = 0.95
GOAL_EVENT_WALL = 0.02
SKIPPED = "skipped"  # a skip row's status: the suite's own, not a job's (no record was written)


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


def _override(row: Row, key: str) -> str:
    """The value of ``key`` in the job's overrides (what it was run with), or —."""
    given = [o.split("=", 1)[1] for o in row.fields.get("suite_overrides") or [] if o.startswith(f"{key}=")]
    return given[-1] if given else "—"


def _signed(value: Any) -> str:
    return "—" if value is None else f"{100 * value:+.2f}%"


def _warnings(row: Row) -> str:
    """What the record says about the machine while it ran: throttling, neighbours on the GPU, a busy CPU."""
    found = []
    if row.fields.get("throttled"):
        found.append(f"THROTTLED: {', '.join(row.fields.get('throttle_reasons') or [])}")
    if row.fields.get("gpu_foreign_processes"):
        found.append(f"other GPU processes: {', '.join(str(p['pid']) for p in row.fields['gpu_foreign_processes'])}")
    if row.fields.get("noisy"):
        found.append("noisy (busy CPU)")
    return "; ".join(found)


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
    ("compile s (graphs/breaks)", lambda r: "—" if r.fields.get("compile_s") is None else
     f"{r.fields['compile_s']:.1f} ({r.fields.get('compile_graphs')}/{r.fields.get('compile_graph_breaks')})"),
    ("wall/event", lambda r: _signed(r.fields.get("wall_vs_event_median"))),
    ("SM MHz min/max", lambda r: "—" if r.fields.get("gpu_sm_clock_mhz_min") is None else
     f"{r.fields['gpu_sm_clock_mhz_min']:.0f}/{r.fields['gpu_sm_clock_mhz_max']:.0f}"),
    ("note", lambda r: _short(" ".join(filter(None, (r.note, r.fields.get("error"), _warnings(r)))))),
]
PAIR: list[Column] = [
    ("job", lambda r: r.label), ("clock", lambda r: str(r.fields.get("step_clock"))),
    ("steps", lambda r: str(r.fields.get("steps"))),
    ("event ms (mean)", lambda r: _num(r.fields.get("event_mean_s"), ".3f", 1e3)),
    ("wall ms (mean)", lambda r: _num(r.fields.get("wall_mean_s"), ".3f", 1e3)),
    ("wall vs event (median of steps)", lambda r: _signed(r.fields.get("wall_vs_event_median"))),
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
    ("model alone img/s", lambda r: _num(r.fields.get("model_alone_images_per_s"), ".1f")),
    ("loader alone img/s", lambda r: _num(r.fields.get("loader_images_per_s"), ".1f")),
    ("waiting for data (Lightning / bare)", lambda r: f"{_pct(r.fields.get('lightning_loader_wait_share'))} / "
                                                      f"{_pct(r.fields.get('bare_loader_wait_share'))}"),
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
SERVING: list[Column] = [
    ("job", lambda r: r.label), ("status", lambda r: r.status), ("scenario", lambda r: str(r.fields.get("scenario"))),
    ("model", lambda r: str(r.fields.get("model"))), ("batch", lambda r: str(r.fields.get("batch_size"))),
    ("p50 / p99 ms", lambda r: f"{_num(r.fields.get('latency_p50_s'), '.2f', 1e3)} / "
                               f"{_num(r.fields.get('latency_p99_s'), '.2f', 1e3)}"),
    ("SLO ms", lambda r: _num(r.fields.get("slo_s"), ".0f", 1e3)),
    ("max QPS at SLO", lambda r: _num(r.fields.get("max_qps_at_slo"), ".1f")),
    ("img/s", lambda r: _num(r.fields.get("images_per_s"), ".1f")),
    ("largest fit / best batch", lambda r: f"{r.fields.get('batch_size_max_fit')} / {r.fields.get('batch_size_best')}"),
    ("note", lambda r: _short(" ".join(filter(None, (r.note, r.fields.get("error"), _warnings(r)))))),
]
LOADER: list[Column] = [
    ("job", lambda r: r.label), ("status", lambda r: r.status), ("mode", lambda r: str(r.fields.get("mode"))),
    ("decode", lambda r: str(r.fields.get("decode"))), ("batch", lambda r: str(r.fields.get("batch_size"))),
    ("pipeline img/s", lambda r: _num(r.fields.get("pipeline_images_per_s"), ".1f")),
    ("model alone img/s", lambda r: _num(r.fields.get("model_images_per_s"), ".1f")),
    ("end to end img/s", lambda r: _num(r.fields.get("images_per_s"), ".1f")),
    ("data-bound", lambda r: str(r.fields.get("data_bound"))),
    ("workers (needed)", lambda r: f"{_override(r, 'data.num_workers')} ({r.fields.get('workers_needed')})"),
    ("note", lambda r: _short(" ".join(filter(None, (r.note, r.fields.get("error")))))),
]
PROFILE: list[Column] = [
    ("job", lambda r: r.label), ("status", lambda r: r.status), ("model", lambda r: str(r.fields.get("model"))),
    ("depth", lambda r: str(r.fields.get("profile_depth"))),
    ("profiled / plain step", lambda r: _num(r.fields.get("profile_overhead"), ".2f")),
    ("top modules by time", lambda r: ", ".join(f"{m['name']} {100 * m['time_share']:.0f}%"
                                                 for m in (r.fields.get("modules") or [])[:4])),
    ("note", lambda r: _short(" ".join(filter(None, (r.note, r.fields.get("error")))))),
]
PIPELINE: list[Column] = [
    ("pipeline", lambda r: r.label), ("img/s per core", lambda r: _num(r.fields.get("workers=0"), ".1f")),
    ("1 worker", lambda r: _num(r.fields.get("workers=1"), ".1f")),
    ("N workers", lambda r: _num(r.fields.get(f"workers={r.fields.get('workers')}"), ".1f")),
    ("vs decode alone", lambda r: r.fields.get("vs_decode", "")),
]
COMPARE: list[Column] = [
    ("job", lambda r: r.label), ("status", lambda r: r.status),
    ("pairs", lambda r: str(r.fields.get("n_pairs"))),
    ("verdicts (faster / slower / no change / inconclusive / noisy)",
     lambda r: " / ".join(str(r.fields.get(f"n_{v}")) for v in ("faster", "slower", "no_change", "inconclusive", "noisy"))),
    ("ratio [interval]", lambda r: f"{_num(r.fields.get('suite_ratio'), '.3f')} "
                                   f"[{_num(r.fields.get('suite_low'), '.3f')}, {_num(r.fields.get('suite_high'), '.3f')}]"),
    ("note", lambda r: _short(" ".join(filter(None, (r.note, r.fields.get("error")))))),
]
TABLES = {"bench": BENCH, "pair": PAIR, "timm": TIMM, "lightning": LIGHTNING, "oom": OOM, "serving": SERVING,
          "loader": LOADER, "profile": PROFILE, "pipeline": PIPELINE, "compare": COMPARE}


def is_failure(row: Row) -> bool:
    """An error row, or a job that ended other than ok / oom (an oom is a result, not a failure)."""
    return row.kind == "error" or row.status not in (Status.OK, Status.OOM, SKIPPED)


def table(rows: list[Row], columns: list[Column]) -> list[str]:
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r).replace("|", "/") for _, cell in columns) + " |" for r in rows]
    return lines


def _on_gpu(row: Row) -> bool:
    return row.fields.get("device_type") == "cuda"


def verdict(goal: str, found: list[float], reached: bool, shown: str, expected: int, cpu: list[float]) -> str:
    """One goal's line: reached / NOT reached with the figures (and how many of its rows are missing), or not
    measured; a CPU row's figure is shown as what it is, never as the goal's."""
    if found:
        missing = f"; {expected - len(found)} of {expected} not measured" if expected > len(found) else ""
        return f"- {goal}: {'reached' if reached else 'NOT reached'} ({shown}{missing})"
    on_cpu = f"; the CPU dry run's figure, not a goal's: {min(cpu):.3g}" if cpu else ""
    return f"- {goal}: not measured (no GPU row of it ran{on_cpu})"


def goals(rows: list[Row], dry_run: bool) -> list[str]:
    """Each goal with what this run reached, computed from the rows' figures; only GPU rows count."""
    def values(kind: str, key: str, keep: Callable[[Row], bool] = lambda r: True, gpu: bool = True) -> list[Any]:
        return [r.fields[key] for r in rows if r.kind == kind and r.fields.get(key) is not None and keep(r)
                and _on_gpu(r) == gpu]

    def planned(kind: str, part: tuple[str, ...], keep: Callable[[Row], bool] = lambda r: True) -> int:
        """Rows of a goal that ran or were meant to (a skip or an error still counts as not measured)."""
        return sum(1 for r in rows if r.part in part and (r.kind == kind or r.kind in ("skip", "error")) and keep(r))

    timm_pair = lambda r: not r.label.startswith("ours_")  # noqa: E731 - a pair is its timm row (or its skip)
    timm = values("timm", "ours_over_timm")
    mfu_row = lambda r: r.part in ("compile", "autotune") and r.fields.get("precision") == "bf16"  # noqa: E731
    mfu = values("bench", "utilization", mfu_row)
    light = values("lightning", "lightning_over_bare", lambda r: not r.fields.get("data_bound"))
    light_bound = values("lightning", "lightning_over_bare", lambda r: bool(r.fields.get("data_bound")))
    book = lambda r: r.part == "harness" and r.label.endswith("_events_vs_wall")  # noqa: E731
    pairs = values("pair", "wall_vs_event_median", book)
    gpu_decode = lambda r: r.fields.get("decode") == "gpu"  # noqa: E731
    decode = values("loader", "data_bound", gpu_decode)
    title = "## Goals" + (": a dry run measures no goal, it shows the paths run" if dry_run else "")
    return [
        title, "",
        verdict(f"ours ≥ {GOAL_TIMM_RATIO}× timm's benchmark.py on every pair", timm,
                min(timm, default=0) >= GOAL_TIMM_RATIO, f"lowest {min(timm, default=0):.3f} of {len(timm)} pairs",
                planned("timm", ("timm", "timm_compiled"), timm_pair), values("timm", "ours_over_timm", gpu=False)),
        verdict(f"Inception-v3 bf16 channels_last compiled ≥ {GOAL_MFU:.0%} of the dense bf16 peak", mfu,
                max(mfu, default=0) >= GOAL_MFU, f"best {max(mfu, default=0):.1%} of {len(mfu)} compiled rows",
                planned("bench", ("compile", "autotune")), values("bench", "utilization", mfu_row, gpu=False)),
        verdict(f"Lightning ≥ {GOAL_LIGHTNING_RATIO}× the bare loop", light,
                min(light, default=0) >= GOAL_LIGHTNING_RATIO, f"{min(light, default=0):.3f}",
                planned("lightning", ("lightning",)) - len(light_bound),
                values("lightning", "lightning_over_bare", gpu=False))
        + (f" — {len(light_bound)} data-bound ratio(s) left out: the loader set the pace" if light_bound else ""),
        verdict(f"CUDA events vs wall clock within {GOAL_EVENT_WALL:.0%} on the harness's TF-book runs",
                [abs(p) for p in pairs], all(abs(p) <= GOAL_EVENT_WALL for p in pairs),
                "wall vs event " + ", ".join(f"{100 * p:+.2f}%" for p in pairs), planned("pair", ("harness",), book),
                []),
        verdict("Inception-v3 training fed by GPU decode is not data-bound", [float(d) for d in decode],
                not any(decode), f"data-bound in {sum(decode)} of {len(decode)} runs",
                planned("loader", ("loader",), gpu_decode), []),
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
