"""What a compare compares: its two sides, the pairs of record groups that should match, and each record's
observations of the figure its scenario is judged by (per repeat, for the bootstrap in ``compare_stats``)."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report import compare_stats as cs
from bench.report.curves import time_to_target
from bench.report.records import Report, build_report
from bench.report.tables import cell_text
from contracts.errors import ConfigError
from contracts.status import Status
from contracts.record import F

# What must match for two records to be compared (the compared key is left out). ``device`` joins only
# when the two sides share a device: comparing two machines' results dirs pairs across devices.
PAIR_KEYS = (F.model, F.batch_size, F.input_size, F.precision, F.memory_format, F.compile, F.scenario, F.mode,
             F.device)
CLOCK_TOLERANCE = 0.05  # SM clocks more than 5 % apart on the same device: the runs were not at the same clocks
BY_EXAMPLES = "device, git_commit, precision, memory_format, batch_size, host, or a config key such as bench.threads"


@dataclass(frozen=True)
class Figure:
    """The figure a scenario is judged by: the per-repeat statistic, its direction, how it is shown."""

    name: str
    stat: cs.Stat
    lower_is_better: bool
    shown: Callable[[float], float]   # the statistic as the table shows it


THROUGHPUT = Figure("img/s", cs.mean_stat, True, lambda s: 1 / s)   # statistic: seconds per image
FIGURES = {
    "throughput": THROUGHPUT,
    "p99": Figure("p99 latency (ms)", cs.p99_stat, True, lambda s: s * 1e3),
    "max_qps": Figure("max QPS at the SLO", cs.mean_stat, False, lambda s: s),
    "time_to_target": Figure("time to target (s)", cs.mean_stat, True, lambda s: s),
}


@dataclass
class Pair:
    key: dict[str, str]                       # the matched configuration
    baseline: pd.DataFrame
    candidate: pd.DataFrame
    kind: str | None = None                   # a FIGURES key; None: not comparable
    interval: cs.Interval | None = None
    verdict: str | None = None
    call: str | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)   # efficiency columns


@dataclass
class Comparison:
    """Everything the outputs are made from."""

    baseline_label: str
    candidate_label: str
    by: str | None
    keys: list[str]
    pairs: list[Pair]
    unpaired: list[str]                      # "baseline only: <setting> (N records)"
    notes: list[str]                         # records left out and why
    options: dict[str, Any]
    report: Report                           # both sides' records: the dashboard's other views
    suite: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ the sides
def _config_value(path: str, key: str) -> Any:
    """A dotted config key (``bench.threads``) as the record's stored config holds it."""
    node: Any = json.loads(Path(path).read_text()).get(F.config) or {}
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return cell_text(value) if not isinstance(value, bool) else str(value).lower()


def split_by(report: Report, by: str, baseline_value: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str, str, list[str]]:
    """The two sides of ``by``: exactly two values among the records (else one line naming those found)."""
    records = report.records
    if by in records and records[by].notna().any():
        values = records[by].map(_text)
    else:  # not a record field: a config key, as the record's stored config holds it (seed, bench.threads)
        values = pd.Series([_text(_config_value(p, by)) for p in records["record_path"]], index=records.index,
                           dtype=object)
    if values.isna().all():
        raise ConfigError(f"compare.by={by}: no record has that field (e.g. {BY_EXAMPLES})")
    found = sorted(values.dropna().unique())
    if len(found) != 2:
        what = "only one value" if len(found) == 1 else f"{len(found)} values"
        raise ConfigError(f"compare.by={by} needs exactly two values to compare, the records hold {what}: "
                          f"{', '.join(found)} (narrow compare.dirs, or compare one pair of dirs with "
                          f"compare.baseline= and compare.candidate=)")
    if baseline_value is not None:
        if str(baseline_value) not in found:
            raise ConfigError(f"compare.baseline_value={baseline_value!r} is not a value of {by}: {', '.join(found)}")
        base = str(baseline_value)
    else:  # the older side is the baseline (a commit, a driver, last month's sweep)
        first = {v: records.loc[values == v, F.timestamp].min() for v in found}
        base = min(found, key=lambda v: (str(first[v]), v))
    cand = next(v for v in found if v != base)
    missing = int(values.isna().sum())
    notes = [f"{missing} records without {by} left out"] if missing else []
    return records[values == base], records[values == cand], base, cand, notes


def _label(dirs: list[str]) -> str:
    return ", ".join(Path(d).name or str(d) for d in dirs)


def _without_compares(report: Report) -> Report:
    """Compare jobs hold no figures (and this one is running under the dirs it reads)."""
    report.records = report.records[report.records[F.task] != "compare"].reset_index(drop=True)
    return report


def load_sides(opts: dict[str, Any]) -> tuple[Report, pd.DataFrame, pd.DataFrame, str, str, list[str]]:
    if opts["by"]:
        report = _without_compares(build_report(opts["dirs"]))
        return (report, *split_by(report, opts["by"], opts["baseline_value"]))
    base, cand = _without_compares(build_report(opts["baseline"])), _without_compares(build_report(opts["candidate"]))
    both = pd.concat([base.records.assign(_side="baseline"), cand.records.assign(_side="candidate")],
                     ignore_index=True)
    report = Report(both.drop(columns="_side"), base.skipped + cand.skipped)
    labels = (_label(opts["baseline"]), _label(opts["candidate"]))
    if labels[0] == labels[1]:
        labels = ("baseline", "candidate")
    return report, report.records[both["_side"] == "baseline"], report.records[both["_side"] == "candidate"], *labels, []


# ------------------------------------------------------------------------------------------ pairing
def pair_keys(baseline: pd.DataFrame, candidate: pd.DataFrame, by: str | None) -> list[str]:
    """PAIR_KEYS less the compared key. Two results dirs name no key: a setting that is one value on each
    side, a different one, is what they compare (a channels_last sweep against a contiguous one); so is
    the device when the sides share none (two machines' dirs)."""
    keys = [k for k in PAIR_KEYS if k != by and k != (by or "").split(".")[-1]]

    def values(frame: pd.DataFrame, key: str) -> set[str]:
        return {_text(v) or "-" for v in frame[key]} if key in frame else {"-"}

    for key in list(keys):
        b, c = values(baseline, key), values(candidate, key)
        if (key == F.device and not b & c) or (by is None and len(b) == len(c) == 1 and b != c):
            keys.remove(key)
    return keys


def measured(records: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The ok benchmark and training records (a failed job has no figure to compare), and how many were not."""
    kept = records[(records[F.status] == Status.OK) & records[F.task].isin(["benchmark", "train"])]
    return kept, len(records) - len(kept)


def setting_text(key: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items())


def pair_records(baseline: pd.DataFrame, candidate: pd.DataFrame, keys: list[str]) -> tuple[list[Pair], list[str]]:
    """Pairs of record groups with the same ``keys``; the settings found on one side only, named."""
    def groups(frame: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
        text = frame[keys].map(lambda v: _text(v) or "-") if len(frame) else frame[keys]
        return {tuple(k): g for k, g in frame.groupby([text[c] for c in keys], sort=True)} if len(frame) else {}

    base, cand = groups(baseline), groups(candidate)
    pairs = [Pair(dict(zip(keys, k)), base[k], cand[k]) for k in sorted(base.keys() & cand.keys())]
    unpaired = [f"{side} only: {setting_text(dict(zip(keys, k)))} ({len(g[k])} record{'s' * (len(g[k]) != 1)})"
                for side, g, other in (("baseline", base, cand), ("candidate", cand, base))
                for k in sorted(g.keys() - other.keys())]
    return pairs, unpaired


# ------------------------------------------------------------------------------------------ observations
def figure_kind(row: pd.Series) -> str:
    if row.get(F.task) == "train":
        return "time_to_target"
    return {"single_stream": "p99", "server": "max_qps"}.get(row.get(F.scenario), "throughput")


def _numbers(value: Any) -> list[float] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, (int, float)) for v in value):
        return None
    return [float(v) for v in value]


def _split(values: list[float], counts: list[float] | None, parts: int) -> list[np.ndarray]:
    """A record's pooled list cut into its repeats: by the given counts, else into ``parts`` equal runs."""
    if counts and sum(counts) == len(values):
        edges = np.cumsum([0, *map(int, counts)])
        return [np.asarray(values[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    if parts > 1 and len(values) % parts == 0:
        return list(np.split(np.asarray(values), parts))
    return [np.asarray(values)]


def observations(row: pd.Series, kind: str, targets: dict[str, float]) -> list[np.ndarray] | str:
    """One record's repeats as arrays of the figure's observations, or why the record has none."""
    if kind == "throughput":
        images = row.get(F.batch_size)
        if row.get(F.scenario) == "offline":
            per_repeat = row.get(F.repeat_block_times_s)
            blocks = [b for b in (per_repeat if isinstance(per_repeat, list) else [row.get(F.block_times_s)])
                      if _numbers(b)]
            flat = [t for b in blocks for t in b]
            if not flat or not isinstance(row.get(F.images_per_s), (int, float)):
                return "no block times"
            per_block = row[F.images_per_s] * sum(flat) / len(flat)   # images in one block
            return [np.asarray(b) / per_block for b in blocks]
        steps = _numbers(row.get(F.step_times_s))
        if steps and isinstance(images, (int, float)) and images > 0:
            repeats = _numbers(row.get(F.repeat_means_s))
            return [r / images for r in _split(steps, None, len(repeats) if repeats else 1)]
        rate = row.get(F.images_per_s)
        return [np.asarray([1 / rate])] if isinstance(rate, (int, float)) and rate > 0 else "no step times"
    if kind == "p99":
        latencies = _numbers(row.get(F.step_times_s))
        return _split(latencies, _numbers(row.get(F.repeat_queries)), 1) if latencies else "no query latencies"
    if kind == "max_qps":
        found = _numbers(row.get(F.repeat_max_qps_at_slo)) or _numbers([row.get(F.max_qps_at_slo)])
        return [np.asarray([v]) for v in found] if found else "no max QPS at the SLO (a bench.server.search_qps=true run)"
    target = targets.get(str(row.get(F.data)))
    seconds = time_to_target(row, target)[F.time_to_target_s] if target is not None else None
    return [np.asarray([seconds])] if seconds else f"no time to target (report.target_top1 for {row.get(F.data)})"


def side_data(records: pd.DataFrame, kind: str, targets: dict[str, float]) -> tuple[list[list[np.ndarray]], list[str]]:
    data, why = [], []
    for _, row in records.iterrows():
        found = observations(row, kind, targets)
        (why.append(f"run {row[F.run_id]}: {found}") if isinstance(found, str) else data.append(found))
    return data, why


