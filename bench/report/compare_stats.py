"""The compare's statistics: a hierarchical bootstrap of a ratio, its small-sample expansion, and the verdicts.

A side of a comparison is a list of records; a record is a list of repeats (``bench.repeats``); a repeat is
the observations inside it (step times, block times, query latencies; one value where a run yields one
figure, such as the server's max QPS at its SLO). A bootstrap draw resamples at every level with
replacement — records, then repeats within each record, then observations within each repeat — and takes
the statistic of each repeat (mean or p99), averaged up the tree (Saravanan et al. 2020, "Application of
the hierarchical bootstrap to multi-level data in neuroscience", Neurons, Behavior, Data analysis and
Theory 3(5)). Run-to-run noise therefore counts, and a single long run gets no credit for its many steps.

The top level has few units (2-5 runs per side is typical); there a plain bootstrap is too narrow: its
variance is low by (n-1)/n and it uses normal quantiles for a spread estimated from n values. The interval is
Hesterberg's expanded percentile interval (Hesterberg 2015, "What teachers should know about the bootstrap",
The American Statistician 69(4), sec. 4.3): each side's centred draws are scaled by sqrt(n/(n-1)) and the
difference's by t_{df, 1-a/2} / z_{1-a/2} (df: Student's with equal run counts, else Welch's). With one run on a side the
run-to-run noise is not measured at all: such a pair is never called faster, slower or unchanged.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

Stat = Callable[[np.ndarray], np.ndarray]  # (draws, observations) -> (draws,)
Side = Sequence[Sequence[np.ndarray]]       # records -> repeats -> observations
MAX_CELLS = 4_000_000                       # draws x observations resampled at once (memory bound, ~32 MB)
MAX_REPEATS = 10_000                         # "more repeats needed" is searched up to here

FASTER, SLOWER, NO_CHANGE, INCONCLUSIVE, NOISY = "faster", "slower", "no change", "inconclusive", "noisy"
VERDICTS = (FASTER, SLOWER, NO_CHANGE, INCONCLUSIVE, NOISY)


def mean_stat(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=-1)


def p99_stat(x: np.ndarray) -> np.ndarray:
    return np.percentile(x, 99, axis=-1)


def hier_mean(side: Side, stat: Stat) -> float:
    """The point estimate: the statistic of each repeat, averaged over repeats, then over records."""
    return float(np.mean([np.mean([stat(np.asarray(rep, dtype=float)[None, :])[0] for rep in rec]) for rec in side]))


def top_units(side: Side) -> int:
    """How many independent runs the top resampled level has: records when there are several, else repeats."""
    return len(side) if len(side) > 1 else len(side[0])


def _pool(rep: np.ndarray, stat: Stat, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` bootstrap values of one repeat's statistic (its observations resampled)."""
    rep = np.asarray(rep, dtype=float)
    if rep.size == 1:
        return np.full(draws, rep[0])
    chunk = max(1, MAX_CELLS // rep.size)
    return np.concatenate([stat(rep[rng.integers(0, rep.size, (min(chunk, draws - i), rep.size))])
                           for i in range(0, draws, chunk)])


def _record_draws(pools: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draws of a record's statistic: its repeats resampled, each picked from its own pool of draws."""
    n, width = pools.shape
    pick = rng.integers(0, n, (*shape, n))
    column = rng.integers(0, width, (*shape, n))
    return pools[pick, column].mean(axis=-1)


def side_draws(side: Side, stat: Stat, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws,) bootstrap values of the side's statistic, resampled at every level of the hierarchy."""
    pools = [np.stack([_pool(rep, stat, draws, rng) for rep in rec]) for rec in side]
    if len(side) == 1:
        return _record_draws(pools[0], (draws,), rng)
    n = len(side)
    # independent record draws per slot, so a record picked twice in one draw gets two resamples
    per_record = np.stack([_record_draws(p, (draws, n), rng) for p in pools])   # (n, draws, n)
    chosen = rng.integers(0, n, (draws, n))
    return per_record[chosen, np.arange(draws)[:, None], np.arange(n)[None, :]].mean(axis=1)


def _welch_df(v_b: float, n_b: int, v_c: float, n_c: int) -> float:
    """Degrees of freedom of a difference of two means: Student's n_b + n_c - 2 when the counts are equal (then
    robust to unequal variances, and with two runs a side not at the mercy of two noisy variance estimates),
    Welch-Satterthwaite's when they differ (inf when nothing varies)."""
    if n_b == n_c:
        return float(n_b + n_c - 2)
    den = v_b**2 / (n_b - 1) + v_c**2 / (n_c - 1)
    return (v_b + v_c) ** 2 / den if den > 0 else math.inf


def t_factor(df: float, confidence: float) -> float:
    """t_{df, 1-a/2} / z_{1-a/2}: how much wider a Student interval is than a normal one."""
    q = 0.5 + confidence / 2
    return float(sps.t.ppf(q, df) / sps.norm.ppf(q)) if math.isfinite(df) else 1.0


@dataclass
class Interval:
    """The ratio (oriented so > 1 means the candidate is faster) with its interval, and what backs it."""

    ratio: float
    low: float
    high: float
    n_baseline: int             # independent runs (top resampled level) per side
    n_candidate: int
    run_var_baseline: float     # the variance of one run's log figure, per side (nan with one run)
    run_var_candidate: float
    draws: np.ndarray           # the expanded bootstrap draws of log(ratio): a suite's geomean resamples these
    side_draws: tuple[np.ndarray, np.ndarray]  # expanded draws of each side's log statistic (suite scores)

    @property
    def too_few(self) -> bool:
        """One run on a side: the interval holds within-run noise only."""
        return min(self.n_baseline, self.n_candidate) < 2


def _expand(log_draws: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """A side's centred draws scaled by sqrt(n/(n-1)), and the variance of one run's log figure."""
    centred = log_draws - log_draws.mean()
    scaled = centred * math.sqrt(n / (n - 1))
    return scaled, float(scaled.var() * n)


def compare_sides(baseline: Side, candidate: Side, stat: Stat, lower_is_better: bool, confidence: float,
                  draws: int, rng: np.random.Generator) -> Interval:
    """The oriented ratio candidate / baseline (> 1: faster) with its expanded hierarchical-bootstrap interval."""
    est_b, est_c = math.log(hier_mean(baseline, stat)), math.log(hier_mean(candidate, stat))
    sign = -1.0 if lower_is_better else 1.0   # a lower time is faster: the ratio is baseline / candidate
    d_hat = sign * (est_c - est_b)
    n_b, n_c = top_units(baseline), top_units(candidate)
    raw_b = np.log(side_draws(baseline, stat, draws, rng))
    raw_c = np.log(side_draws(candidate, stat, draws, rng))
    if min(n_b, n_c) < 2:  # within-run noise only: shown, never decisive
        diff = sign * ((raw_c - raw_c.mean()) - (raw_b - raw_b.mean()))
        dev_b, dev_c, var_b, var_c, factor = raw_b - raw_b.mean(), raw_c - raw_c.mean(), math.nan, math.nan, 1.0
    else:
        dev_b, var_b = _expand(raw_b, n_b)
        dev_c, var_c = _expand(raw_c, n_c)
        factor = t_factor(_welch_df(var_b / n_b, n_b, var_c / n_c, n_c), confidence)
        diff = sign * (dev_c - dev_b)
    log_ratio = d_hat + factor * diff
    alpha = 1 - confidence
    low, high = np.quantile(log_ratio, [alpha / 2, 1 - alpha / 2])
    sides = tuple(est + t_factor(n - 1, confidence) * dev if n > 1 else est + dev
                  for est, dev, n in ((est_b, dev_b, n_b), (est_c, dev_c, n_c)))
    return Interval(math.exp(d_hat), math.exp(low), math.exp(high), n_b, n_c, var_b, var_c, log_ratio, sides)


def half_width(var_b: float, var_c: float, n: int, confidence: float) -> float:
    """The predicted log half-width with ``n`` runs per side and these run variances (Welch t)."""
    v_b, v_c = var_b / n, var_c / n
    return t_factor(_welch_df(v_b, n, v_c, n), confidence) * sps.norm.ppf(0.5 + confidence / 2) * math.sqrt(v_b + v_c)


def repeats_needed(iv: Interval, threshold: float, confidence: float) -> int | None:
    """Runs per side that would make this pair decisive if the estimate and the noise stay as measured;
    None when even MAX_REPEATS would not (the estimate sits on the threshold) or the noise is unmeasured."""
    if iv.too_few:
        return None
    d, tau = abs(math.log(iv.ratio)), math.log1p(threshold)
    room = d if d > tau else tau - d   # beyond the band: exclude 1; inside it: stay inside
    if room <= 0:
        return None
    low, high = max(iv.n_baseline, iv.n_candidate), MAX_REPEATS
    if half_width(iv.run_var_baseline, iv.run_var_candidate, high, confidence) >= room:
        return None
    while low < high:  # the half-width shrinks with n: bisect for the first n that fits
        mid = (low + high) // 2
        if half_width(iv.run_var_baseline, iv.run_var_candidate, mid, confidence) < room:
            high = mid
        else:
            low = mid + 1
    return low


def call(iv: Interval, threshold: float) -> str:
    """What the statistics say, machine state aside.

    faster / slower: the interval excludes 1 and the ratio is beyond the threshold (1 + t, or 1 / (1 + t));
    no change: the whole interval inside [1 / (1 + t), 1 + t]; else (or with one run on a side) inconclusive.
    """
    if iv.too_few:
        return INCONCLUSIVE
    tau = math.log1p(threshold)
    d, lo, hi = math.log(iv.ratio), math.log(iv.low), math.log(iv.high)
    if lo > 0 and d > tau:
        return FASTER
    if hi < 0 and d < -tau:
        return SLOWER
    if lo > -tau and hi < tau:
        return NO_CHANGE
    return INCONCLUSIVE


def geomean(intervals: Sequence[Interval], confidence: float) -> tuple[float, float, float]:
    """The geometric mean of the pairs' ratios and its interval: each bootstrap draw averages one draw per pair
    (the pairs' expanded draws, so each pair's own resampling carries through)."""
    est = math.exp(float(np.mean([math.log(iv.ratio) for iv in intervals])))
    width = min(len(iv.draws) for iv in intervals)
    stacked = np.stack([iv.draws[:width] for iv in intervals]).mean(axis=0)
    alpha = 1 - confidence
    low, high = np.quantile(stacked, [alpha / 2, 1 - alpha / 2])
    return est, math.exp(low), math.exp(high)


def score(side_logs: Sequence[np.ndarray], estimates: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """A suite score: the geomean of one side's figures with its interval (draws already expanded per pair)."""
    est = math.exp(float(np.mean(np.log(estimates))))
    width = min(len(d) for d in side_logs)
    alpha = 1 - confidence
    low, high = np.quantile(np.stack([d[:width] for d in side_logs]).mean(axis=0), [alpha / 2, 1 - alpha / 2])
    return est, math.exp(low), math.exp(high)
