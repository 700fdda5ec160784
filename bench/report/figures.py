"""The dashboard's plots as plain plotly.js figure specs (dicts), one builder per section key.

Every point drawn from a record carries that record's index as ``customdata``: the page fills the hover
text (model, device, precision, batch, run id) from it and the filter bar drops the points it hides.
Reference points (papers, the TF book, peaks) carry none and always show. Text that plotly would read as
markup (trace names, titles) is HTML-escaped here; plotly shows the entities as plain characters.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from contracts.status import Status
from bench.reference import RETHINKING_TABLE3, TF_BOOK, paper_figures
from bench.report import speed
from bench.report.curves import TARGET_CURVE, curves, time_to_target
from bench.report.plotspec import Spec, esc, figure
from bench.report.plotspec import hover as _hover
from bench.report.records import Report
from bench.report.sections import SECTIONS, devices_text
from bench.report.tables import LATENCY_SCENARIOS, accuracy_label, cell_text
from bench.report.time_to_accuracy_figures import time_to_accuracy_figures
from contracts.record import F

LOG2 = math.log10(2)   # a log axis ticked at powers of two (batch sizes)
MAX_PROFILES = 6       # per-module bar charts: the newest profiled runs, one chart each
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
STATUS_COLORS = {Status.OK: "#2a9d55", Status.RUNNING: "#3b7dd8", Status.DEAD: "#7f7f7f", Status.KILLED: "#8b1a1a",
                 Status.INTERRUPTED: "#e08a1e", Status.ERROR: "#d62728", Status.OOM: "#9467bd",
                 Status.DIVERGED: "#c71585"}


def numeric(rows: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as numbers, NaN where missing (or where no record has the field)."""
    return pd.to_numeric(rows[column], errors="coerce") if column in rows else pd.Series(math.nan, index=rows.index)


VARIANT_FIELDS = [F.model, F.mode, F.precision, F.memory_format, F.compile, F.input_size, F.input, F.scenario]


def variant(row: pd.Series | dict[str, Any]) -> str:
    """What a line stands for: model and every setting that changes speed, besides batch size."""
    compiled = row.get(F.compile) not in (None, "off", False) and not pd.isna(row.get(F.compile))
    parts = [row.get(F.model), row.get(F.mode), row.get(F.precision), row.get(F.memory_format),
             f"compile={row.get(F.compile)}" if compiled else None,
             f"{cell_text(row.get(F.input_size))}px" if pd.notna(row.get(F.input_size)) else None,
             f"input={row.get(F.input)}" if isinstance(row.get(F.input), str) and row[F.input] != "synthetic" else None,
             row.get(F.scenario) if row.get(F.scenario) in LATENCY_SCENARIOS else None]  # not the plain tf_book
    return " ".join(cell_text(p) for p in parts if p is not None and not pd.isna(p))


Segment = tuple[list[Any], list[Any], list[int]]  # x, y, record index per point: one line


def line_trace(name: str, segments: list[Segment], hovertemplate: str, **style: Any) -> Spec:
    """One legend entry drawing several lines: segments joined by gaps (null), never by a line.

    One trace per setting instead of one per sweep keeps a 2,000-record page quick and its legend short;
    the hover still names each point's record (run id, sweep)."""
    xs: list[Any] = []
    ys: list[Any] = []
    ids: list[Any] = []
    for sx, sy, sid in segments:
        if xs:
            xs.append(None), ys.append(None), ids.append(None)
        xs += list(sx)
        ys += list(sy)
        ids += list(sid)
    return {"type": "scatter", "mode": "lines+markers", "name": esc(name), "x": xs, "y": ys, "customdata": ids,
            "connectgaps": False, "hovertemplate": hovertemplate, **style}


def _segments(group: pd.DataFrame, x: str, y: str) -> list[Segment]:
    """A line per sweep; a run outside any sweep is a point of its own."""
    sweeps: dict[str, list[tuple[Any, Any, int]]] = {}
    out: list[Segment] = []
    for i, series, a, b in zip(group.index, group["series"], group[x], group[y]):
        if isinstance(series, str) and series:
            sweeps.setdefault(series, []).append((a, b, int(i)))
        else:
            out.append(([a], [b], [int(i)]))
    for series in sorted(sweeps):
        points = sorted(sweeps[series], key=lambda p: p[0])
        out.insert(0, ([p[0] for p in points], [p[1] for p in points], [p[2] for p in points]))
    return out


def variants(rows: pd.DataFrame) -> list[str]:
    return [variant(r) for r in rows.reindex(columns=VARIANT_FIELDS).to_dict("records")]


def series_traces(rows: pd.DataFrame, x: str, y: str, ylabel: str) -> list[Spec]:
    """One device's records: per setting, a line per sweep; lone runs are markers, joined to nothing."""
    keyed = rows[[x, y, "series"]].assign(_variant=variants(rows))
    return [line_trace(name, _segments(group, x, y), _hover(f"{x} %{{x}}", f"%{{y:.6g}} {ylabel}"))
            for name, group in keyed.groupby("_variant", sort=True)]


def _tried_traces(rows: pd.DataFrame) -> list[Spec]:
    """A batch-size search inside one record (``batch_sizes_tried``): one explicit series, drawn as a line."""
    segments: dict[str, list[Segment]] = {}
    for index, row in rows.iterrows():
        tried = row.get(F.batch_sizes_tried)
        if isinstance(tried, list) and len(tried) > 1:
            pts = sorted((t[F.batch_size], t[F.images_per_s]) for t in tried if isinstance(t, dict))
            segments.setdefault(variant(row), []).append(([p[0] for p in pts], [p[1] for p in pts], [int(index)] * len(pts)))
    return [line_trace(f"{name} · batch search", segs, _hover("tried batch %{x}", "%{y:.6g} images/s"),
                       line={"dash": "dot"}) for name, segs in segments.items()]


def per_device(records: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    return ((device, group) for device, group in records.groupby(F.device, sort=True))


# ------------------------------------------------------------------------------------------- views
def status_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    data = [{"type": "histogram", "name": status, "x": group[F.device].tolist(),
             "customdata": [int(i) for i in group.index], "marker": {"color": STATUS_COLORS.get(status)},
             "hovertemplate": f"{status}: %{{y}} jobs on %{{x}}<extra></extra>"}
            for status, group in records.groupby(F.status, sort=True)]
    return [figure("Jobs per status and device", devices_text(records), F.device, "jobs", data,
                   barmode="stack", height=300)]


def throughput_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    return [figure("Throughput vs batch size", f"on {device}", "batch size", "images / s",
                   series_traces(rows, F.batch_size, F.images_per_s, "images/s") + _tried_traces(rows),
                   xaxis={"type": "log", "dtick": LOG2}, yaxis={"type": "log"})
            for device, rows in per_device(records)]


def _throughput_of(row: pd.Series) -> float:
    qps = row.get(F.qps_achieved)
    return qps if isinstance(qps, (int, float)) and qps == qps else row.get(F.images_per_s)


def serving_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    figures = []
    for device, rows in per_device(records):
        rows = rows.assign(throughput=[_throughput_of(r) for _, r in rows.iterrows()],
                           p50_ms=rows[F.latency_p50_s] * 1e3,
                           p99_ms=numeric(rows, F.latency_p99_s) * 1e3)
        data = []
        for column, dash in (("p50_ms", "solid"), ("p99_ms", "dash")):
            for trace in series_traces(rows.dropna(subset=[column]), "throughput", column, f"ms {column[:3]}"):
                trace["name"] = f"{column[:3]} {trace['name']}"
                trace["line"] = {"dash": dash}
                trace["marker"] = {"symbol": "circle" if column == "p50_ms" else "x"}
                data.append(trace)
        probes: dict[tuple[str, str], list[Segment]] = {}
        for index, row in rows.iterrows():  # a server run's QPS probes: one explicit series per record
            found = [p for p in (row.get(F.qps_probes) or []) if isinstance(p, dict)]
            for key in (F.latency_p50_s, F.latency_p99_s):
                pts = sorted((p.get(F.qps_achieved), p.get(key)) for p in found if p.get(key) is not None)
                if len(pts) > 1:
                    probes.setdefault((key[8:11], variant(row)), []).append(
                        ([p[0] for p in pts], [p[1] * 1e3 for p in pts], [int(index)] * len(pts)))
        data += [line_trace(f"{q} probes {name}", segs, _hover("%{x:.6g} queries/s", f"{q} %{{y:.6g}} ms"),
                            line={"dash": "solid" if q == "p50" else "dash"}) for (q, name), segs in probes.items()]
        for slo in sorted(numeric(rows, F.slo_s).dropna().unique()):
            data.append({"type": "scatter", "mode": "lines", "name": f"SLO {slo * 1e3:g} ms", "hoverinfo": "name",
                         "x": [rows["throughput"].min(), rows["throughput"].max()], "y": [slo * 1e3] * 2,
                         "line": {"dash": "dot", "color": "#888"}})
        figures.append(figure("Latency vs throughput (p50 solid, p99 dashed)", f"serving scenarios on {device}",
                              "throughput: queries/s (server, single stream) or images/s (offline)",
                              "latency (ms)", data, yaxis={"type": "log"}))
    return figures


def device_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    label = speed.group_label(records)
    data = []
    for n, (device, rows) in enumerate(per_device(records)):
        ids = [int(i) for i in rows.index]
        share = numeric(rows, F.utilization) * 100
        color = {"color": PALETTE[n % len(PALETTE)]}
        data.append({"type": "bar", "name": esc(device), "legendgroup": esc(device), "marker": color,
                     "x": [esc(v) for v in label[rows.index]],
                     "y": rows[F.images_per_s].tolist(), "customdata": ids,
                     "hovertemplate": _hover("%{y:.6g} images/s (fastest batch)")})
        data.append({"type": "bar", "name": esc(device), "legendgroup": esc(device), "showlegend": False, "marker": color,
                     "x": [esc(v) for v in label[rows.index]], "y": share.tolist(), "customdata": ids,
                     "xaxis": "x2", "yaxis": "y2", "hovertemplate": _hover("%{y:.4g} % of peak")})
    return [figure("Same model and precision on each device: images/s (left), % of the device's peak (right)",
                   devices_text(records), "model precision mode", "images / s (fastest batch)", data,
                   barmode="group", xaxis={"domain": [0, 0.47]},
                   xaxis2={"domain": [0.53, 1], "anchor": "y2", "automargin": True,
                           "title": {"text": "model precision mode"}},
                   yaxis2={"anchor": "x2", "title": {"text": "% of peak TFLOP/s"}, "automargin": True})]


def utilization_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    figures = []
    for device, rows in per_device(records):
        data = series_traces(rows, F.batch_size, F.achieved_tflops, "TFLOP/s")
        for (kind, peak), _ in rows.groupby([rows[F.peak_precision].fillna("?") if F.peak_precision in rows
                                             else rows[F.precision], F.peak_tflops]):
            data.append({"type": "scatter", "mode": "lines", "name": esc(f"peak {kind}: {peak:.4g} TFLOP/s"),
                         "x": [rows[F.batch_size].min(), rows[F.batch_size].max()], "y": [peak, peak],
                         "line": {"dash": "dash", "color": "#444"}, "hoverinfo": "name"})
        figures.append(figure("Achieved TFLOP/s vs the device's peak (dashed)", f"on {device}", "batch size",
                              "TFLOP/s", data, xaxis={"type": "log", "dtick": LOG2}, yaxis={"type": "log"}))
    return figures


def time_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    figures = []
    for index, row in speed.profiled_records(records).tail(MAX_PROFILES).iterrows():
        modules = sorted(row[F.modules], key=lambda m: -(m.get("time_share") or 0))[:15][::-1]
        names = [esc(m.get("name")) for m in modules]
        data = [{"type": "bar", "orientation": "h", "name": label, "y": names,
                 "x": [100 * (m.get(key) or 0) for m in modules], "customdata": [int(index)] * len(modules),
                 "hovertemplate": _hover("%{y}", f"{label} %{{x:.4g}} %")}
                for key, label in (("time_share", "time share"), ("flop_share", "FLOP share"))]
        bound = " — data-bound" if row.get(F.data_bound) is True else ""
        figures.append(figure(f"Where the time goes: {row[F.model]}, run {row[F.run_id]}{bound}",
                              f"on {row[F.device]}", "% of step", "", data, barmode="group",
                              height=max(300, 40 + 28 * len(modules))))
    for device, rows in per_device(speed.loader_records(records)):
        labels = [esc(f"{r[F.model]} bs {cell_text(r.get(F.batch_size))} {r[F.run_id]}"
                      + (" DATA-BOUND" if r.get(F.data_bound) is True else "")) for _, r in rows.iterrows()]
        data = [{"type": "bar", "name": name, "x": labels, "y": numeric(rows, col).tolist(),
                 "customdata": [int(i) for i in rows.index], "hovertemplate": _hover(f"%{{y:.6g}} {name}")}
                for col, name in ((F.pipeline_images_per_s, "pipeline images/s"), (F.model_images_per_s, "model images/s"))]
        figures.append(figure("Input pipeline vs model images/s (data-bound runs marked)", f"on {device}",
                              "run", "images / s", data, barmode="group", yaxis={"type": "log"}))
    return figures


def seed_pair_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    pairs = next(s for s in SECTIONS if s.key == "seed_pairs").built_tables(report)[0][1]  # the table shown below
    if pairs.empty:
        return []
    top = max(pairs["flop_ratio"].max(), pairs["time_ratio"].max()) * 1.1
    data = [{"type": "scatter", "mode": "lines", "name": "time saved = FLOPs saved", "x": [0, top], "y": [0, top],
             "line": {"dash": "dot", "color": "#888"}, "hoverinfo": "name"}]
    for (pair, device), rows in pairs.groupby(["pair", F.device]):
        trace = {"type": "scatter", "mode": "markers", "marker": {"size": 10}, "name": esc(f"{pair} · {device}"),
                 "x": rows["flop_ratio"].tolist(), "y": rows["time_ratio"].tolist(),
                 "hovertemplate": _hover(esc(pair), "FLOPs: %{x:.4g}x fewer", "time: %{y:.4g}x less")}
        if "_records" in rows:  # the improved block's record names the point
            trace["customdata"] = [ids[-1] for ids in rows["_records"]]
        else:
            trace["hovertext"] = [esc(f"{pair} · {device} · {mode}") for mode in rows[F.mode]]
        data.append(trace)
    return [figure("Seed block pairs: is the improved block as much faster as it is cheaper in FLOPs?",
                   devices_text(records), "FLOP ratio (baseline / improved)", "time ratio (baseline / improved)", data)]


def table3_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    order = list(RETHINKING_TABLE3)
    networks = [esc(RETHINKING_TABLE3[k].network) for k in order]
    figures = []
    for label, rows in records.groupby(records.apply(accuracy_label, axis=1)):
        on_imagenet = rows["dataset_key"].eq("imagenet_val").all() and rows["protocol"].eq("center").all()
        data = [{"type": "scatter", "mode": "lines+markers", "name": "paper (ImageNet val, single crop)",
                 "x": networks, "y": [RETHINKING_TABLE3[k].top1_err for k in order], "line": {"dash": "dash"},
                 "hovertemplate": "paper: %{y} % top-1 error<extra></extra>"}] if on_imagenet else []
        for device, group in per_device(rows.dropna(subset=[F.top1_err])):
            group = group.sort_values(F.row, key=lambda s: s.map(order.index))
            data.append({"type": "scatter", "mode": "markers", "marker": {"size": 10}, "name": esc(f"measured · {device}"),
                         "x": [esc(RETHINKING_TABLE3[k].network) for k in group[F.row]],
                         "y": group[F.top1_err].tolist(), "customdata": [int(i) for i in group.index],
                         "hovertemplate": _hover("%{x}", "%{y:.4g} % top-1 error")})
        title = "Rethinking Table 3 rows: top-1 error" + (" beside the paper's" if on_imagenet else
                                                          " (not comparable with the paper's ImageNet figures)")
        figures.append(figure(title, f"{label} — {devices_text(rows)}", "row (cumulative changes)",
                              "top-1 error (%)", data, xaxis={"categoryorder": "array", "categoryarray": networks}))
    return figures


def accuracy_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    models = sorted(records[F.model].unique())
    data = [{"type": "bar", "name": "paper (ImageNet val, single crop)", "x": [esc(m) for m in models],
             "y": [paper_figures(m)[F.top1] for m in models], "marker": {"color": "#bbb"},
             "hovertemplate": "paper: %{y} % top-1<extra></extra>"}]
    for device, rows in per_device(records):
        data.append({"type": "bar", "name": esc(f"measured · {device}"), "x": [esc(m) for m in rows[F.model]],
                     "y": rows[F.top1].tolist(), "customdata": [int(i) for i in rows.index],
                     "hovertemplate": _hover("%{y:.4g} % top-1")})
    return [figure("Top-1 (%): papers vs measured, ImageNet val (1000 classes), single centre crop",
                   devices_text(records), F.model, "top-1 (%)", data, barmode="group")]


def other_accuracy_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    figures = []
    for label, rows in records.groupby(records.apply(accuracy_label, axis=1)):
        data = [{"type": "bar", "name": esc(device), "x": [esc(f"{r[F.model]} {r[F.run_id]}") for _, r in group.iterrows()],
                 "y": group[F.top1].tolist(), "customdata": [int(i) for i in group.index],
                 "hovertemplate": _hover("%{y:.4g} % top-1")} for device, group in per_device(rows)]
        figures.append(figure(f"Top-1 (%) on {label} — no published figure applies", devices_text(rows),
                              "run", "top-1 (%)", data, barmode="group"))
    return figures


def _target_note(rows: pd.DataFrame, target: float) -> str:
    """``time to 90 %: fastest 12.3 s (googlenet, run ab12), 2 of 3 runs reached``"""
    times = [(t, r) for _, r in rows.iterrows() if (t := time_to_target(r, target)[F.time_to_target_s]) is not None]
    if not times:
        return f"no run reached {target:g} % top-1"
    best, row = min(times, key=lambda tr: tr[0])
    return (f"time to {target:g} %: fastest {best:.3g} s ({row[F.model]}, run {row[F.run_id]}), "
            f"{len(times)} of {len(rows)} runs reached")


def training_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    figures = []
    keys = records.apply(lambda r: (accuracy_label(r), r[F.device]), axis=1)
    for (label, device), rows in records.groupby(keys):
        segments: dict[tuple[str, str], list[Segment]] = {}
        for index, row in rows.iterrows():
            found = curves(row)
            for name in (TARGET_CURVE, "curves.train_loss"):
                if name in found:
                    n = len(found[name])
                    segments.setdefault((name, row[F.model]), []).append((list(range(n)), found[name], [int(index)] * n))
        data = [line_trace(f"{name.split('.')[-1]} {model}", segs,
                           _hover("epoch %{x}", f"{name.split('.')[-1]} %{{y:.5g}}"),
                           yaxis="y" if name == TARGET_CURVE else "y2",
                           line={"dash": "solid" if name == TARGET_CURVE else "dot"})
                for (name, model), segs in sorted(segments.items())]
        target = report.target_top1.get(str(rows[F.data].iloc[0]))
        if target is not None:
            data.append({"type": "scatter", "mode": "lines", "name": f"target top-1 {target:g} %",
                         "x": [0, max(len(t) for t in (d["x"] for d in data)) - 1 if data else 1],
                         "y": [target, target], "line": {"dash": "dash", "color": "#888"}, "hoverinfo": "name"})
        on = f"{label} — on {device}" + (f"\n{_target_note(rows, target)}" if target is not None else "")
        figures.append(figure("Training curves: val top-1 (solid, left) and train loss (dotted, right)", on,
                              "epoch", "val top-1 (%)", data, xaxis={"zeroline": False},
                              yaxis2={"overlaying": "y", "side": "right", "title": {"text": "train loss"}}))
    return figures


def book_figures(report: Report, records: pd.DataFrame) -> list[Spec]:
    data = [{"type": "bar", "name": esc("TF book, 2018 (hardware not stated)"), "x": ["TF book"],
             "y": [TF_BOOK[F.mean_s]], "error_y": {"type": "data", "array": [TF_BOOK[F.std_s]]},
             "marker": {"color": "#e08a1e"}, "hovertemplate": esc(TF_BOOK["source"]) + "<br>%{y} s/batch<extra></extra>"}]
    for device, rows in per_device(records):
        data.append({"type": "bar", "name": esc(device), "x": [esc(f"{device} {r[F.run_id]}") for _, r in rows.iterrows()],
                     "y": rows[F.mean_s].tolist(), "customdata": [int(i) for i in rows.index],
                     "error_y": {"type": "data", "array": numeric(rows, F.std_s).fillna(0).tolist()},
                     "hovertemplate": _hover("%{y:.6g} s/batch")})
    return [figure("Inception-v3 forward, batch 32, 299x299, fp32: seconds per batch (lower is faster)",
                   devices_text(records), "", "s / batch", data)]


FIGURES: dict[str, Callable[[Report, pd.DataFrame], list[Spec]]] = {
    "status": status_figures, "throughput": throughput_figures, "serving": serving_figures,
    "devices": device_figures, "utilization": utilization_figures, "time": time_figures,
    "seed_pairs": seed_pair_figures, "table3": table3_figures, "accuracy": accuracy_figures,
    "other_accuracy": other_accuracy_figures, "training": training_figures, "tf_book": book_figures,
    "time_to_accuracy": time_to_accuracy_figures,
}
