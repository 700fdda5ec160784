"""The dashboard's time-to-accuracy view: per dataset and target, each (model, recipe, device) as a bar of its
score with each seed's time to target as a point beside it, and each miss marked above the bars."""
from __future__ import annotations

import pandas as pd

from bench.report.plotspec import Spec, esc, figure, hover
from bench.report.records import Report
from bench.report.sections import devices_text
from bench.report.time_to_accuracy import comparison_table, runs
from bench.report.tables import RECORDS
from contracts.record import F


def _label(row: pd.Series | dict) -> str:
    return f"{row['model']} · {row['recipe']} · {row['device']}"


def time_to_accuracy_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    scores, seeds = comparison_table(report, records), runs(records)
    figures = []
    for (on, target), group in scores.groupby(["measured_on", F.target_top1], sort=True):
        mine = seeds[(seeds["measured_on"] == on) & (seeds[F.target_top1] == target)]
        labels = [esc(_label(r)) for _, r in group.iterrows()]
        data: list[Spec] = [{
            "type": "bar", "name": "score (MLPerf: olympic mean; < 5 runs: median)", "x": labels,
            "y": group["score_s"].tolist(), "marker": {"color": "#9ecae1"},
            "customdata": [ids[0] if ids else None for ids in group[RECORDS]],
            "text": [esc(r) for r in group["score_rule"]], "textposition": "none", "hovertemplate": hover("score %{y:.4g} s", "%{text}")}]
        hit, miss = mine[mine[F.reached]], mine[~mine[F.reached]]
        data.append({"type": "scatter", "mode": "markers", "name": "a seed's time to target",
                     "x": [esc(_label(r)) for _, r in hit.iterrows()], "y": hit[F.time_to_target_s].tolist(),
                     "text": [f"seed {s}" for s in hit[F.seed]], "marker": {"size": 9, "color": "#08519c"},
                     "customdata": [ids[0] for ids in hit[RECORDS]], "hovertemplate": hover("%{text}: %{y:.4g} s")})
        if len(miss):
            top = pd.to_numeric(mine[F.time_to_target_s], errors="coerce").max()
            y = (top if top == top else 1.0) * 1.1
            data.append({"type": "scatter", "mode": "markers+text", "name": "a seed that missed the target",
                         "x": [esc(_label(r)) for _, r in miss.iterrows()], "y": [y] * len(miss),
                         "text": [f"miss (seed {s})" for s in miss[F.seed]], "textposition": "top center",
                         "marker": {"symbol": "x", "size": 11, "color": "#d62728"},
                         "customdata": [ids[0] for ids in miss[RECORDS]], "hovertemplate": hover("%{text}")})
        figures.append(figure(f"Time to {target:g} % top-1 per seed (points) and the score (bars); misses marked",
                              f"{on} — {devices_text(mine)}", "model · recipe · device",
                              "training seconds to target (eval excluded)", data))
    return figures
