"""The training comparison: time to a target top-1 over seeds, per (model, recipe, device), scored MLPerf's way.

MLPerf Training's rules, as the score applies them: at least 5 runs; the fastest and the slowest are dropped and
the rest averaged; at most one run may miss the target, and it counts as the slowest (so it is the one dropped).
With fewer than 5 runs the table says so and gives the median instead, a miss counting as infinitely slow
(AlgoPerf's rule). Epochs to target are checked against the recipe's reference epochs (``train.reference_epochs``)
with a one-sided t-test, as MLPerf's reference-convergence check does: converging significantly faster than the
reference is a finding to check, not a win.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contracts.status import Status
from bench.report import compare_stats as cs
from bench.report.records import Report
from bench.report.tables import RECORDS, accuracy_label
from contracts.record import F

MLPERF_RUNS = 5      # MLPerf Training's image-classification result: 5 runs, olympic mean
MAX_MISSES = 1       # ... of which at most one may miss the target
ALPHA = 0.05         # the reference check's significance level
GROUP = (F.model, F.recipe, F.device, "measured_on", F.target_top1)


@dataclass(frozen=True)
class Score:
    seconds: float | None   # the score (None: no score can be given)
    rule: str               # how it was made, or why there is none


def mlperf_score(times: list[float | None]) -> Score:
    """The score of runs' times to target (None: a miss)."""
    n, misses = len(times), sum(t is None for t in times)
    ordered = sorted(t for t in times if t is not None) + [math.inf] * misses
    if n >= MLPERF_RUNS:
        if misses > MAX_MISSES:
            return Score(None, f"no score: {misses} of {n} runs missed (MLPerf allows {MAX_MISSES})")
        kept = ordered[1:-1]
        miss = ", the miss counted as the slowest" if misses else ""
        return Score(statistics.fmean(kept), f"MLPerf: mean of {len(kept)} runs, fastest and slowest dropped{miss}")
    if n == 0:
        return Score(None, "no runs")
    median = statistics.median(ordered)
    few = f"fewer than {MLPERF_RUNS} runs ({n}): not an MLPerf score"
    if math.isinf(median):
        return Score(None, f"no score: {few}, and the median run missed")
    return Score(median, f"median of {n} runs ({few}; a miss counts as infinitely slow)")


def reference_check(epochs: list[float], reference: float | None) -> str | None:
    """MLPerf's convergence check: do the runs reach the target in significantly fewer epochs than the reference?"""
    if reference is None or (isinstance(reference, float) and math.isnan(reference)):
        return None
    if len(epochs) < 2:
        return f"reference {reference:g} epochs: needs 2 or more runs that reached the target"
    from scipy.stats import ttest_1samp

    if statistics.pstdev(epochs) == 0:  # every run took the same epochs: the t statistic is undefined
        faster = statistics.fmean(epochs) < reference
        p = 0.0 if faster else 1.0
    else:
        p = float(ttest_1samp(epochs, reference, alternative="less").pvalue)
        faster = p < ALPHA
    verdict = "converges faster than the reference: check the recipe" if faster else "consistent with the reference"
    return f"mean {statistics.fmean(epochs):.3g} vs {reference:g} epochs, one-sided t-test p={p:.3g}: {verdict}"


SPEEDUP_CONFIDENCE = 0.95  # as the compare task's default
SPEEDUP_DRAWS = 2000
SPEEDUP_SEED = 0          # the interval is reproducible: the same runs give the same bounds


@dataclass(frozen=True)
class Speedup:
    ratio: float                               # B's mean time over A's: A is this many times faster
    interval: tuple[float, float] | None = None  # its 95% interval over runs (None with fewer than 2 runs a side)


def speedup(times_a: list[float], times_b: list[float]) -> Speedup | None:
    """How much faster A reaches the target than B, from the two devices' times of the runs that reached it.

    The compare task's interval method (``compare_stats.compare_sides``): each run is one unit, resampled with
    replacement and expanded for the few runs a side has, so the interval holds the seed-to-seed spread.
    """
    if not times_a or not times_b:
        return None
    side = lambda times: [[np.asarray([t])] for t in times]  # runs -> one repeat -> one observation
    iv = cs.compare_sides(side(times_b), side(times_a), cs.mean_stat, lower_is_better=True,
                          confidence=SPEEDUP_CONFIDENCE, draws=SPEEDUP_DRAWS,
                          rng=np.random.default_rng(SPEEDUP_SEED))
    return Speedup(iv.ratio, None if iv.too_few else (iv.low, iv.high))


# ------------------------------------------------------------------------------------------ records
def _train_option(row: pd.Series, key: str) -> Any:
    """A ``train.<key>`` value as the record states it (None where missing)."""
    value = row.get(key)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def model_variant(row: pd.Series) -> str:
    """The model and the settings the run overrode (``googlenet_bn model.aux_logits=false``): its variants apart."""
    overrides = row.get(F.overrides) if isinstance(row.get(F.overrides), list) else []
    settings = sorted(o.lstrip("+") for o in overrides if o.lstrip("+").startswith("model.") and "=" in o)
    return " ".join([str(row[F.model]), *settings])


def tta_records(records: pd.DataFrame) -> pd.DataFrame:
    """Training runs with a target (train.target_top1), finished ok or diverged (a divergence is a miss)."""
    if records.empty:
        return records
    train = records[(records[F.task] == "train") & records[F.status].isin([Status.OK, Status.DIVERGED])]
    targets = train.apply(lambda r: _train_option(r, F.target_top1), axis=1) if len(train) else pd.Series(dtype=object)
    return train[targets.notna()] if len(train) else train


def runs(records: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its group, seed, reached or missed, and its figures."""
    rows = []
    for index, row in records.iterrows():
        reached = row.get(F.reached) is True and row[F.status] == Status.OK
        rows.append({
            F.model: model_variant(row), F.recipe: _train_option(row, F.recipe) or "not recorded", F.device: row[F.device],
            "measured_on": accuracy_label(row), F.target_top1: float(_train_option(row, F.target_top1)),
            F.seed: _train_option(row, F.seed),
            F.reached: reached, F.time_to_target_s: row.get(F.time_to_target_s) if reached else None,
            F.epochs_to_target: row.get(F.epochs_to_target) if reached else None,
            F.reference_epochs: _train_option(row, F.reference_epochs),
            F.train_images_per_s: row.get(F.train_images_per_s), F.eval_time_s: row.get(F.eval_time_s),
            F.energy_j: row.get(F.energy_j), F.status: row[F.status], F.run_id: row[F.run_id], RECORDS: [int(index)],
        })
    return pd.DataFrame(rows)


def _mean(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None


def _energy(values: pd.Series) -> float | str:
    """The mean energy to train of a group's runs; where only some runs measured it, which share the mean is of."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if not len(numbers):
        return "not measured"
    mean = float(numbers.mean())
    return mean if len(numbers) == len(values) else f"{mean:.4g} (mean of {len(numbers)} of {len(values)} runs)"


def comparison_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Per (model, recipe, device, dataset, target): runs, reached, the score and how it was made, spread, epochs
    with the reference check, training images/s, evaluation time (outside the clock) and energy."""
    table = runs(records)
    rows = []
    for key, group in table.groupby(list(GROUP), sort=True, dropna=False):
        times = [t if r else None for t, r in zip(group[F.time_to_target_s], group[F.reached])]
        score = mlperf_score(times)
        hit = group[group[F.reached]]
        reference = next((v for v in group[F.reference_epochs] if v is not None and v == v), None)
        rows.append({
            **dict(zip(GROUP, key)), "runs": len(group), F.reached: len(hit), "missed": len(group) - len(hit),
            "score_s": score.seconds, "score_rule": score.rule,
            F.min_s: hit[F.time_to_target_s].min() if len(hit) else None,
            F.max_s: hit[F.time_to_target_s].max() if len(hit) else None,
            F.epochs_to_target: _mean(hit[F.epochs_to_target]),
            "reference_check": reference_check([float(e) for e in hit[F.epochs_to_target]], reference),
            F.train_images_per_s: _mean(group[F.train_images_per_s]), F.eval_time_s: _mean(group[F.eval_time_s]),
            F.energy_j: _energy(group[F.energy_j]),
            "seeds": " ".join(str(s) + ("" if r else " (miss)") for s, r in zip(group[F.seed], group[F.reached])),
            RECORDS: [i for ids in group[RECORDS] for i in ids],
        })
    return pd.DataFrame(rows)


def device_table(report: Report, records: pd.DataFrame) -> pd.DataFrame:
    """Where two devices ran the same model and recipe to the same target: how much faster one reaches it."""
    table = runs(records)
    rows = []
    same = [F.model, F.recipe, "measured_on", F.target_top1]
    for key, group in table.groupby(same, sort=True):
        devices = sorted(group[F.device].unique())
        for a_index, a in enumerate(devices):
            for b in devices[a_index + 1:]:
                times = {d: [float(t) for t in group.loc[(group[F.device] == d) & group[F.reached], F.time_to_target_s]]
                         for d in (a, b)}
                found = speedup(times[a], times[b])
                if found is None:
                    continue
                flip = found.ratio < 1  # say it as "the faster one is x times faster"
                fast, slow, ratio = (b, a, 1 / found.ratio) if flip else (a, b, found.ratio)
                bounds = found.interval and sorted((1 / v if flip else v) for v in found.interval)
                interval = f"{bounds[0]:.3g}-{bounds[1]:.3g}" if bounds else "needs 2 or more runs a side"
                rows.append({**dict(zip(same, key)),
                             "comparison": f"{fast} reaches {key[3]:g} % {ratio:.3g}x faster than {slow}",
                             "ratio": ratio, "interval": interval,
                             RECORDS: [i for ids in group[RECORDS] for i in ids]})
    return pd.DataFrame(rows)
