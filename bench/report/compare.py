"""task=compare: two sets of records, paired by the configuration that should match, each pair's ratio with
its interval and verdict, a suite line, efficiency, and a regression gate.

The two sides are ``compare.baseline`` / ``compare.candidate`` (results dirs) or one set of dirs split by
``compare.by`` (a record field such as ``device`` or ``git_commit``, or a config key such as
``bench.threads``). The statistics are in ``compare_stats``; the outputs in ``compare_view``.
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bench.job.record import JobContext
from bench.report import compare_stats as cs
from bench.report.compare_pairs import (BY_EXAMPLES, CLOCK_TOLERANCE, FIGURES, Comparison, Pair, figure_kind, load_sides,
                                        measured, pair_keys, pair_records, setting_text, side_data)
from bench.report.compare_view import write_outputs
from contracts.errors import ConfigError, TaskFailure, check_choice
from contracts.status import Status
from contracts.record import F

FAIL_ON = (None, "slower")


# ------------------------------------------------------------------------------------------ options
def options(cfg: DictConfig) -> dict[str, Any]:
    """Every compare option checked before any work (one line naming the option and its valid values)."""
    c = OmegaConf.to_container(cfg.compare, resolve=True)
    out = {k: c.get(k) for k in ("baseline", "candidate", "dirs", "by", "baseline_value", "out_dir", "fail_on")}
    for name in ("baseline", "candidate", "dirs"):
        value = out[name]
        out[name] = [value] if isinstance(value, str) else list(value or [])
    if bool(out["baseline"]) != bool(out["candidate"]):
        raise ConfigError("give both compare.baseline=<results dir> and compare.candidate=<results dir>, or neither "
                          "(with compare.by=<field> to split compare.dirs)")
    if not out["baseline"] and not out["by"]:
        raise ConfigError(f"nothing to compare: give compare.baseline= and compare.candidate= results dirs, or "
                          f"compare.by=<field> ({BY_EXAMPLES}) to split compare.dirs")
    if out["baseline"] and out["by"]:
        raise ConfigError("compare.by splits compare.dirs: leave it null when compare.baseline/candidate are given")
    for name, low, high in (("threshold", 0.0, 1.0), ("confidence", 0.5, 1.0)):
        value = c.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
            raise ConfigError(f"compare.{name} must be a number in ({low:g}, {high:g}), got {value!r}")
        out[name] = float(value)
    for name, low in (("bootstrap", 200), ("seed", 0)):
        value = c.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"compare.{name} must be an integer >= {low}, got {value!r}")
        out[name] = value
    check_choice("compare.fail_on", out["fail_on"], FAIL_ON)
    prices = c.get("price_per_hour") or {}
    bad = {k: v for k, v in prices.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0}
    if bad:
        raise ConfigError(f"compare.price_per_hour maps a device name to a price per hour > 0, got {bad}")
    out["price_per_hour"] = {str(k): float(v) for k, v in prices.items()}
    targets = OmegaConf.to_container(cfg.report.get("target_top1") or {}, resolve=True) if "report" in cfg else {}
    out["target_top1"] = {str(k): float(v) for k, v in targets.items()}
    return out


# ------------------------------------------------------------------------------------------ judging
def _flagged(records: pd.DataFrame, column: str) -> list[str]:
    return [str(r) for r, v in zip(records[F.run_id], records[column]) if v is True] if column in records else []


def machine_state(pair: Pair) -> list[str]:
    """Why the machine's state makes this pair untrustworthy: noisy or throttled runs, different clocks."""
    why = []
    for column, what in ((F.noisy, "noisy (load above its threads)"), (F.throttled, F.throttled)):
        runs = _flagged(pair.baseline, column) + _flagged(pair.candidate, column)
        if runs:
            why.append(f"{what}: run {', '.join(runs)}")
    same_device = set(pair.baseline[F.device]) == set(pair.candidate[F.device])
    if same_device and F.gpu_clock_sm_mhz in pair.baseline:
        clocks = [pd.to_numeric(side[F.gpu_clock_sm_mhz], errors="coerce").median() for side in (pair.baseline, pair.candidate)]
        if all(c == c for c in clocks) and abs(clocks[0] - clocks[1]) > CLOCK_TOLERANCE * max(clocks):
            why.append(f"different clocks: SM {clocks[0]:.0f} vs {clocks[1]:.0f} MHz")
    if same_device and F.cpu_governor in pair.baseline:
        governors = [set(side[F.cpu_governor].dropna()) for side in (pair.baseline, pair.candidate)]
        if all(governors) and governors[0] != governors[1]:
            why.append(f"different CPU governors: {'/'.join(sorted(governors[0]))} vs {'/'.join(sorted(governors[1]))}")
    return why


def efficiency(pair: Pair, prices: dict[str, float]) -> dict[str, Any]:
    """img/s per W where every record has its power, and images per currency unit where the device has a price."""
    out: dict[str, Any] = {}
    for name, side in (("baseline", pair.baseline), ("candidate", pair.candidate)):
        rate = pd.to_numeric(side[F.images_per_s], errors="coerce")
        power = pd.to_numeric(side[F.power_w], errors="coerce") if F.power_w in side else pd.Series(math.nan, index=side.index)
        if power.notna().all() and rate.notna().all():
            out[f"{name}_img_s_per_w"] = float((rate / power).mean())
        devices = set(side[F.device])
        if len(devices) == 1 and (price := prices.get(next(iter(devices)))) and rate.notna().all():
            out[f"{name}_images_per_price"] = float(rate.mean() * 3600 / price)
    return out


def judge(pair: Pair, opts: dict[str, Any]) -> None:
    """The pair's figure, ratio, interval, verdict and notes."""
    kinds = {figure_kind(r) for _, r in pd.concat([pair.baseline, pair.candidate]).iterrows()}
    if len(kinds) > 1:
        pair.notes.append(f"not comparable: the sides are judged by different figures ({', '.join(sorted(kinds))})")
        return
    pair.kind = kinds.pop()
    figure = FIGURES[pair.kind]
    (base, why_b), (cand, why_c) = (side_data(s, pair.kind, opts["target_top1"]) for s in (pair.baseline, pair.candidate))
    pair.notes += why_b + why_c
    if not base or not cand:
        pair.kind = None
        pair.notes.insert(0, f"not comparable: no {figure.name} on the {'baseline' if not base else 'candidate'} side")
        return
    rng = np.random.default_rng([opts["seed"], zlib.crc32(setting_text(pair.key).encode())])
    iv = cs.compare_sides(base, cand, figure.stat, figure.lower_is_better, opts["confidence"], opts["bootstrap"], rng)
    pair.interval = iv
    pair.extra = {"baseline_value": figure.shown(cs.hier_mean(base, figure.stat)),
                  "candidate_value": figure.shown(cs.hier_mean(cand, figure.stat)),
                  **(efficiency(pair, opts["price_per_hour"]) if pair.kind == "throughput" else {})}
    pair.call = cs.call(iv, opts["threshold"])
    if iv.too_few:
        pair.notes.append("too few repeats: one run on a side cannot tell run-to-run noise from the difference; "
                          "run >= 2 per side (bench.repeats or more jobs)")
    elif min(len(base), len(cand)) == 1:
        pair.notes.append("one record on a side: its repeats ran back to back, so a change of load between jobs "
                          "is not sampled; interleave several jobs per side")
    if not iv.too_few and pair.call == cs.INCONCLUSIVE:
        need = cs.repeats_needed(iv, opts["threshold"], opts["confidence"])
        have = max(iv.n_baseline, iv.n_candidate)
        pair.notes.append(f"too wide: about {need - have} more runs per side would decide it" if need else
                          "too wide: the ratio sits on the threshold; no practical number of runs decides it")
    state = machine_state(pair)
    pair.notes = state + pair.notes
    pair.verdict = cs.NOISY if state else pair.call


def suite_lines(pairs: list[Pair], keys: list[str], confidence: float, threshold: float) -> list[dict[str, Any]]:
    """The geomean of all pairs' ratios, then per setting (everything but the model) the geomean of img/s per side."""
    judged = [p for p in pairs if p.interval is not None]
    if not judged:
        return []
    ratio, low, high = cs.geomean([p.interval for p in judged], confidence)
    geo = cs.Interval(ratio, low, high, min(p.interval.n_baseline for p in judged),
                      min(p.interval.n_candidate for p in judged), math.nan, math.nan, np.empty(0), (np.empty(0),) * 2)
    lines = [{"setting": "all pairs", "pairs": len(judged), "geomean_ratio": ratio, "low": low, "high": high,
              "call": cs.call(geo, threshold)}]
    settings: dict[str, list[Pair]] = {}
    for p in judged:
        if p.kind == "throughput":
            settings.setdefault(setting_text({k: v for k, v in p.key.items() if k != F.model}), []).append(p)
    for setting, group in sorted(settings.items()):
        line: dict[str, Any] = {"setting": setting, "pairs": len(group), "models": len({p.key.get(F.model) for p in group})}
        for i, side in enumerate(("baseline", "candidate")):
            # the side's draws are of log seconds per image: img/s is their negation
            score = cs.score([-p.interval.side_draws[i] for p in group], [p.extra[f"{side}_value"] for p in group],
                             confidence)
            line.update({f"{side}_score": score[0], f"{side}_low": score[1], f"{side}_high": score[2]})
        line["geomean_ratio"], line["low"], line["high"] = cs.geomean([p.interval for p in group], confidence)
        lines.append(line)
    return lines


def compare(opts: dict[str, Any]) -> Comparison:
    report, baseline, candidate, base_label, cand_label, notes = load_sides(opts)
    (baseline, left_b), (candidate, left_c) = measured(baseline), measured(candidate)
    if left_b + left_c:
        notes.append(f"{left_b + left_c} records left out: not ok, or not a benchmark or training job")
    if baseline.empty or candidate.empty:
        side = "baseline" if baseline.empty else "candidate"
        raise ConfigError(f"no ok benchmark or training record on the {side} side ({base_label if baseline.empty else cand_label})")
    keys = pair_keys(baseline, candidate, opts["by"])
    pairs, unpaired = pair_records(baseline, candidate, keys)
    if not pairs:
        raise ConfigError(f"nothing paired: no setting ({', '.join(keys)}) is on both sides; "
                          f"{'; '.join(unpaired[:4])}{' ...' if len(unpaired) > 4 else ''}")
    for pair in pairs:
        judge(pair, opts)
    pairs.sort(key=lambda p: p.interval.ratio if p.interval else math.inf)
    result = Comparison(base_label, cand_label, opts["by"], keys, pairs, unpaired, notes, opts, report)
    result.suite = suite_lines(pairs, keys, opts["confidence"], opts["threshold"])
    return result


def run_compare(cfg: DictConfig, ctx: JobContext) -> dict[str, Any]:
    """task=compare: compare.md / compare.csv / dashboard.html in the job's dir; the record gets the counts.
    ``compare.fail_on=slower`` fails the job (exit 1) when any pair is slower beyond the threshold."""
    opts = options(cfg)
    result = compare(opts)
    figures = write_outputs(result, Path(opts["out_dir"] or ctx.out_dir))
    ctx.record.update(figures)
    slower = [p for p in result.pairs if p.verdict == cs.SLOWER]
    if opts["fail_on"] == "slower" and slower:
        worst = ", ".join(f"{setting_text(p.key)} x{p.interval.ratio:.3f}" for p in slower[:3])
        raise TaskFailure(Status.ERROR, f"regression gate: {len(slower)} pair(s) slower beyond "
                                        f"{opts['threshold']:.0%}: {worst}")
    return figures
