"""The compare's outputs: compare.md, compare.csv, and the compare view at the top of its dashboard.html."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report import compare_stats as cs
from bench.report.compare_pairs import FIGURES, PAIR_KEYS, Comparison, Pair, setting_text
from bench.report.dashboard import View, render_dashboard
from bench.report.figures import Spec, esc, figure
from bench.report.markdown import markdown_table
from bench.report.tables import cell_text
from contracts.record import CompareSummary, F

VERDICT_COLORS = {cs.FASTER: "#2a9d55", cs.SLOWER: "#d62728", cs.NO_CHANGE: "#7f7f7f", cs.INCONCLUSIVE: "#3b7dd8",
                  cs.NOISY: "#e0a81e", None: "#bbbbbb"}


def common_keys(result: Comparison) -> dict[str, str]:
    """The matched settings every pair shares: said once in the heading, left out of each row."""
    if len(result.pairs) < 2:
        return {k: v for k, v in result.pairs[0].key.items() if k != F.model} if result.pairs else {}
    first = result.pairs[0].key
    return {k: v for k, v in first.items() if all(p.key.get(k) == v for p in result.pairs)}


def row_label(pair: Pair, common: dict[str, str]) -> str:
    own = {k: v for k, v in pair.key.items() if k not in common}
    return setting_text(own) if own else setting_text(pair.key)


def _runs(frame: pd.DataFrame) -> str:
    return " ".join(map(str, frame[F.run_id]))


def pairs_table(result: Comparison) -> pd.DataFrame:
    """One row per pair, sorted by ratio: both figures, the ratio and its interval, the verdict and why."""
    common = common_keys(result)
    rows = []
    for pair in result.pairs:
        iv = pair.interval
        rows.append({
            "setting": row_label(pair, common),
            "figure": FIGURES[pair.kind].name if pair.kind else None,
            "baseline": pair.extra.get("baseline_value"), "candidate": pair.extra.get("candidate_value"),
            "ratio": iv.ratio if iv else None, "low": iv.low if iv else None, "high": iv.high if iv else None,
            "verdict": pair.verdict or "not comparable", "call": pair.call,
            "runs": f"{iv.n_baseline}/{iv.n_candidate}" if iv else f"{len(pair.baseline)}/{len(pair.candidate)}",
            **{k: v for k, v in pair.extra.items() if k not in ("baseline_value", "candidate_value")},
            "baseline_runs": _runs(pair.baseline), "candidate_runs": _runs(pair.candidate),
            "note": "; ".join(pair.notes),
        })
    return pd.DataFrame(rows)


def _interval(ratio: Any, low: Any, high: Any) -> str:
    return f"{ratio:.3f} [{low:.3f}, {high:.3f}]" if isinstance(ratio, float) and ratio == ratio else ""


def suite_text(result: Comparison) -> list[str]:
    """The suite lines: the geomean of all ratios, then per setting each side's score (geomean of img/s)."""
    lines = []
    for line in result.suite:
        ratio = _interval(line["geomean_ratio"], line["low"], line["high"])
        if line["setting"] == "all pairs":
            lines.append(f"suite: geomean ratio {ratio} over {line['pairs']} pairs ({line['call']}; "
                         f"> 1: {result.candidate_label} faster)")
            continue
        scores = ", ".join(f"{label} {line[f'{side}_score']:.4g} img/s [{line[f'{side}_low']:.4g}, "
                           f"{line[f'{side}_high']:.4g}]"
                           for side, label in (("baseline", result.baseline_label), ("candidate", result.candidate_label)))
        where = "the common setting" if line["setting"] == setting_text(common_keys(result)) else line["setting"]
        lines.append(f"suite score at {where}, geomean over {line['models']} models: "
                     f"{scores}; ratio {ratio}")
    return lines


def header_lines(result: Comparison) -> list[str]:
    o = result.options
    verdicts = pd.Series([p.verdict or "not comparable" for p in result.pairs]).value_counts()
    split = f"records split by {result.by}" if result.by else "two results dirs"
    return [
        f"{result.candidate_label} (candidate) vs {result.baseline_label} (baseline), {split}; ratio > 1: the "
        f"candidate is faster",
        f"paired on {', '.join(result.keys)} (compared across: "
        f"{', '.join(k for k in PAIR_KEYS if k not in result.keys) or 'nothing else'}); "
        f"common: {setting_text(common_keys(result)) or 'nothing'}",
        f"{o['confidence']:.0%} intervals from a hierarchical bootstrap ({o['bootstrap']} draws, seed {o['seed']}); "
        f"no change within ±{o['threshold']:.0%}",
        "verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()),
    ]


def render_markdown(result: Comparison, table: pd.DataFrame) -> str:
    shown = table.assign(ratio=[_interval(r, lo, hi) for r, lo, hi in zip(table["ratio"], table["low"], table["high"])])
    shown = shown.drop(columns=["low", "high", "baseline_runs", "candidate_runs"])  # the CSV and the dashboard keep them
    parts = [f"# Compare: {result.candidate_label} vs {result.baseline_label}\n",
             "".join(f"- {line}\n" for line in header_lines(result)),
             "## Suite\n", "".join(f"- {line}\n" for line in suite_text(result)) or "_no pair has an interval_\n",
             "## Pairs (sorted by ratio)\n", markdown_table(shown)]
    if result.unpaired:
        parts += ["## Not paired\n", "".join(f"- {u}\n" for u in result.unpaired)]
    if result.notes:
        parts += ["## Left out\n", "".join(f"- {n}\n" for n in result.notes)]
    return "\n".join(parts)


def _hover(pair: Pair, result: Comparison) -> str:
    iv = pair.interval
    name = FIGURES[pair.kind].name
    sides = [f"{label}: {cell_text(pair.extra.get(f'{side}_value'))} {name}, run {_runs(frame)}"
             for side, label, frame in (("baseline", result.baseline_label, pair.baseline),
                                         ("candidate", result.candidate_label, pair.candidate))]
    return "<br>".join(esc(t) for t in (setting_text(pair.key), f"ratio {_interval(iv.ratio, iv.low, iv.high)} "
                                        f"({pair.verdict})", *sides, *pair.notes[:2]))


def compare_figure(result: Comparison) -> Spec:
    """Each pair's ratio with its interval, sorted, coloured by verdict; the no-change band shaded."""
    judged = [p for p in result.pairs if p.interval is not None]
    common = common_keys(result)
    data = []
    for verdict, color in VERDICT_COLORS.items():
        group = [p for p in judged if p.verdict == verdict]
        if not group:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": verdict, "marker": {"color": color, "size": 9},
                     "x": [p.interval.ratio for p in group], "y": [esc(row_label(p, common)) for p in group],
                     "error_x": {"type": "data", "symmetric": False, "color": color,
                                 "array": [p.interval.high - p.interval.ratio for p in group],
                                 "arrayminus": [p.interval.ratio - p.interval.low for p in group]},
                     "hovertext": [_hover(p, result) for p in group], "hovertemplate": "%{hovertext}<extra></extra>"})
    tau = result.options["threshold"]
    band = {"type": "rect", "xref": "x", "yref": "paper", "x0": 1 / (1 + tau), "x1": 1 + tau, "y0": 0, "y1": 1,
            "fillcolor": "#999", "opacity": 0.15, "line": {"width": 0}}
    one = {"type": "line", "xref": "x", "yref": "paper", "x0": 1, "x1": 1, "y0": 0, "y1": 1,
           "line": {"color": "#555", "dash": "dash"}}
    order = [esc(row_label(p, common)) for p in judged]
    return figure(f"{result.candidate_label} / {result.baseline_label}: ratio per pair (> 1: candidate faster)",
                  f"{result.options['confidence']:.0%} interval; shaded: no change (±{tau:.0%})",
                  "ratio (log scale)", "", data, height=160 + 24 * len(judged), shapes=[band, one],
                  xaxis={"type": "log"}, yaxis={"categoryorder": "array", "categoryarray": order, "automargin": True})


def write_outputs(result: Comparison, out_dir: Path) -> dict[str, Any]:
    """compare.md, compare.csv and dashboard.html in ``out_dir``; the counts and paths for the job's record."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pairs_table(result)
    paths = {F.compare_markdown: out_dir / "compare.md", F.compare_csv: out_dir / "compare.csv",
             F.compare_dashboard: out_dir / "dashboard.html"}
    table.to_csv(paths[F.compare_csv], index=False)
    markdown = render_markdown(result, table)
    paths[F.compare_markdown].write_text(markdown, encoding="utf-8")
    view = View("compare", f"Compare: {result.candidate_label} vs {result.baseline_label}",
                [compare_figure(result)] if any(p.interval for p in result.pairs) else [],
                [("Pairs", table.drop(columns=["baseline_runs", "candidate_runs"]))],
                header_lines(result) + suite_text(result))
    paths[F.compare_dashboard].write_text(render_dashboard(result.report, [view]), encoding="utf-8")
    print(markdown)
    print(f"compare: {paths[F.compare_markdown]}")
    return compare_figures(result, {k: str(v) for k, v in paths.items()})


def compare_figures(result: Comparison, paths: dict[str, str]) -> dict[str, Any]:
    """The compare job's record fields (declared in ``contracts.record.CompareSummary``)."""
    verdicts = [p.verdict for p in result.pairs]
    suite = result.suite[0] if result.suite else {}
    return asdict(CompareSummary(
        compare_baseline=result.baseline_label, compare_candidate=result.candidate_label, compare_by=result.by,
        n_pairs=len(result.pairs), n_unpaired=len(result.unpaired),
        **{f"n_{v.replace(' ', '_')}": verdicts.count(v) for v in cs.VERDICTS},
        n_not_comparable=verdicts.count(None), suite_ratio=suite.get("geomean_ratio"),
        suite_low=suite.get("low"), suite_high=suite.get("high"), **paths))
