"""The seed documents' cost claims against the clock: per pair of ``bench.reference.SEED_PAIRS``, FLOP ratio and time ratio.

Built from plain benchmark records (``experiment=seed_module_costs``), one row per pair, device and mode.
A ratio above 1 means the improved block is cheaper by that factor. Print it for a sweep dir with
``python -m bench.report.seed_pairs results/multirun/<day>/<time>``.
"""
from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from contracts.errors import ConfigError
from contracts.status import Status
from bench.reference import SEED_PAIRS
from bench.report.records import load_records
from bench.report.tables import RECORDS
from contracts.record import F

SEED_MODELS = frozenset(name for pair in SEED_PAIRS for name in (pair.baseline, pair.improved))
COLUMNS = ["pair", F.device, F.mode, "flop_ratio", "time_ratio", "baseline", "improved",
           "baseline_gflops", "improved_gflops", "baseline_ms", "improved_ms"]


def _costs(records: pd.DataFrame) -> pd.DataFrame:
    """Median GFLOPs and milliseconds per image for each (device, mode, model), from plain ok benchmark runs."""
    frame = records[(records[F.status] == Status.OK) & (records[F.task] == "benchmark") & records[F.model].isin(SEED_MODELS)]
    for column, plain in ((F.profiled, True), (F.input, "loader")):  # profiled or loader timings are not the block's own
        if column in frame:
            frame = frame[frame[column] != plain]
    if F.device not in frame:
        frame = frame.assign(device=frame[F.device_name])
    frame = frame.assign(gflops=pd.to_numeric(frame[F.gflops_per_image_step]),
                         ms=1e3 * pd.to_numeric(frame[F.mean_s]) / pd.to_numeric(frame[F.batch_size]),
                         index=frame.index)
    grouped = frame.groupby([F.device, F.mode, F.model])
    return grouped[["gflops", "ms"]].median().join(grouped["index"].agg(list).rename(RECORDS))


def pair_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per seed pair, device and mode measured: the FLOP ratio and the time ratio, baseline / improved."""
    costs = _costs(records)
    rows: list[dict[str, Any]] = []
    for device, mode in sorted({(d, m) for d, m, _ in costs.index}):
        for pair in SEED_PAIRS:
            base, better = (device, mode, pair.baseline), (device, mode, pair.improved)
            if base not in costs.index or better not in costs.index:
                continue
            b, i = costs.loc[base], costs.loc[better]
            rows.append({"pair": pair.name, F.device: device, F.mode: mode,
                         "flop_ratio": b["gflops"] / i["gflops"], "time_ratio": b["ms"] / i["ms"],
                         "baseline": pair.baseline, "improved": pair.improved,
                         "baseline_gflops": b["gflops"], "improved_gflops": i["gflops"],
                         "baseline_ms": b["ms"], "improved_ms": i["ms"],
                         RECORDS: [*b[RECORDS], *i[RECORDS]]})  # the improved block's records last
    table = pd.DataFrame(rows, columns=[*COLUMNS, RECORDS])
    table.insert(2, "finding", [pair_sentence(row) for _, row in table.iterrows()])
    return table


SAME = 0.05  # ratios within 5% of 1 read as "about the same"


def _factor(ratio: float, what: str) -> tuple[str, str]:
    """(verb, object): ("saves", "2.4x the FLOPs"), ("costs", "1.3x the time") or ("takes", "about the same time")."""
    if abs(ratio - 1) <= SAME:
        return "takes", f"about the same {what}"
    return ("saves", f"{ratio:.1f}x the {what}") if ratio > 1 else ("costs", f"{1 / ratio:.1f}x the {what}")


def pair_sentence(row: pd.Series | dict[str, Any]) -> str:
    """E.g. ``1x1 reduction saves 2.4x the FLOPs and 1.9x the time (forward, <device>)``."""
    (flop_verb, flops), (time_verb, time) = _factor(row["flop_ratio"], "FLOPs"), _factor(row["time_ratio"], "time")
    time = time if time_verb == flop_verb else f"{time_verb} {time}"
    return f"{row['pair']} {flop_verb} {flops} and {time} ({row[F.mode]}, {row[F.device]})"


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m bench.report.seed_pairs RESULTS_DIR [RESULTS_DIR ...]")
    try:
        records, _ = load_records(argv)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    table = pair_table(records)
    if table.empty:
        sys.exit(f"no seed-pair records under {', '.join(argv)}: run `python run.py experiment=seed_module_costs` first")
    print(table.drop(columns=[RECORDS]).to_string(index=False))
    print()
    for _, row in table.iterrows():
        print(pair_sentence(row))


if __name__ == "__main__":
    main(sys.argv[1:])
