"""The compare's interval method against known answers: synthetic runs drawn from known distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.report import compare_stats as cs


def side(rng: np.random.Generator, runs: int, steps: int, log_mean: float, run_sd: float = 0.05,
         step_sd: float = 0.2, repeats: int = 1) -> list[list[np.ndarray]]:
    """Step times: a lognormal per step around a lognormal per run (the run-to-run noise), ``runs`` records."""
    return [[np.exp(log_mean + rng.normal(0, run_sd) + rng.normal(0, step_sd, steps)) for _ in range(repeats)]
            for _ in range(runs)]


def compare(b: list, c: list, rng: np.random.Generator, draws: int = 500) -> cs.Interval:
    return cs.compare_sides(b, c, cs.mean_stat, True, 0.95, draws, rng)


@pytest.mark.parametrize("runs", [3, 5])
def test_interval_covers_the_true_ratio_near_the_nominal_level(runs: int) -> None:
    # candidate steps e^0.1 shorter: mean step times (equal step spread on both sides) differ by exactly e^0.1
    rng, truth, trials = np.random.default_rng(7), math.exp(0.1), 200
    hits = sum(_covers(rng, runs, truth) for _ in range(trials))
    assert 0.92 <= hits / trials <= 0.995  # 95 % nominal; slightly conservative (steps and runs both resampled)


def _covers(rng: np.random.Generator, runs: int, truth: float) -> bool:
    iv = compare(side(rng, runs, 40, 0.0), side(rng, runs, 40, -0.1), rng)
    return iv.low <= truth <= iv.high


def test_a_against_a_rarely_calls_a_difference() -> None:
    rng, trials = np.random.default_rng(11), 200
    calls = [cs.call(compare(side(rng, 3, 40, 0.0), side(rng, 3, 40, 0.0), rng), 0.03) for _ in range(trials)]
    false_alarms = sum(c in (cs.FASTER, cs.SLOWER) for c in calls)
    assert false_alarms / trials <= 0.05


def test_a_real_difference_is_called_in_its_direction() -> None:
    rng = np.random.default_rng(3)
    slow, fast = side(rng, 5, 40, 0.0), side(rng, 5, 40, -math.log(1.5))
    up, down = compare(slow, fast, rng), compare(fast, slow, rng)
    assert cs.call(up, 0.03) == cs.FASTER and up.low <= 1.5 <= up.high
    assert cs.call(down, 0.03) == cs.SLOWER and down.low <= 1 / 1.5 <= down.high


def test_one_long_run_per_side_is_never_decisive() -> None:
    """100,000 steps make a tight within-run interval, but the run-to-run noise is unmeasured."""
    rng = np.random.default_rng(5)
    iv = compare(side(rng, 1, 100_000, 0.0, run_sd=0.0), side(rng, 1, 100_000, -0.2, run_sd=0.0), rng, draws=200)
    assert iv.too_few and iv.high / iv.low < 1.01
    assert cs.call(iv, 0.03) == cs.INCONCLUSIVE and cs.repeats_needed(iv, 0.03, 0.95) is None


def test_run_to_run_noise_widens_the_interval_whatever_the_step_count() -> None:
    rng = np.random.default_rng(9)
    quiet = compare(side(rng, 4, 2000, 0.0, run_sd=0.0), side(rng, 4, 2000, 0.0, run_sd=0.0), rng)
    noisy = compare(side(rng, 4, 2000, 0.0, run_sd=0.1), side(rng, 4, 2000, 0.0, run_sd=0.1), rng)
    assert math.log(noisy.high / noisy.low) > 5 * math.log(quiet.high / quiet.low)


def test_repeats_within_a_record_count_as_runs() -> None:
    rng = np.random.default_rng(2)
    iv = compare(side(rng, 1, 40, 0.0, repeats=4), side(rng, 1, 40, -0.3, repeats=4), rng)
    assert (iv.n_baseline, iv.n_candidate) == (4, 4) and cs.call(iv, 0.03) == cs.FASTER


def test_the_bootstrap_is_reproducible_from_its_seed() -> None:
    data = side(np.random.default_rng(0), 3, 30, 0.0), side(np.random.default_rng(1), 3, 30, -0.05)
    one, two = (compare(*data, np.random.default_rng(42)) for _ in range(2))
    assert (one.ratio, one.low, one.high) == (two.ratio, two.low, two.high)


def test_inconclusive_estimates_the_repeats_that_would_decide() -> None:
    rng = np.random.default_rng(4)
    wide = compare(side(rng, 3, 40, 0.0, run_sd=0.15), side(rng, 3, 40, -0.1, run_sd=0.15), rng)
    assert cs.call(wide, 0.03) == cs.INCONCLUSIVE
    need = cs.repeats_needed(wide, 0.03, 0.95)
    assert need is not None and need > 3
    d = abs(math.log(wide.ratio))
    room = d if d > math.log1p(0.03) else math.log1p(0.03) - d
    assert cs.half_width(wide.run_var_baseline, wide.run_var_candidate, need, 0.95) < room
    assert cs.half_width(wide.run_var_baseline, wide.run_var_candidate, need - 1, 0.95) >= room


def test_p99_and_higher_is_better_figures_are_oriented_so_above_one_is_faster() -> None:
    rng = np.random.default_rng(6)
    slow = [[rng.exponential(0.02, 600)] for _ in range(3)]
    fast = [[rng.exponential(0.01, 600)] for _ in range(3)]
    assert cs.compare_sides(slow, fast, cs.p99_stat, True, 0.95, 300, rng).ratio > 1.5
    qps_low, qps_high = [[np.array([10.0 + k])] for k in range(3)], [[np.array([20.0 + k])] for k in range(3)]
    iv = cs.compare_sides(qps_low, qps_high, cs.mean_stat, False, 0.95, 300, rng)
    assert iv.ratio == pytest.approx(21 / 11) and cs.call(iv, 0.03) == cs.FASTER


def test_geomean_of_ratios_resamples_within_pairs() -> None:
    rng = np.random.default_rng(8)
    pairs = [compare(side(rng, 3, 40, 0.0), side(rng, 3, 40, -math.log(r)), rng) for r in (1.2, 1.5, 1.8)]
    ratio, low, high = cs.geomean(pairs, 0.95)
    assert ratio == pytest.approx(math.exp(np.mean([math.log(p.ratio) for p in pairs])))
    assert low < ratio < high and high / low < min(p.high / p.low for p in pairs)  # three pairs: tighter than one
