"""Records in, one DataFrame out: loading, merging copies, liveness, and the columns every view groups by.

Records copied together from several machines merge: rows are grouped by device (name x count), and a
record seen twice (same ``run_id``, e.g. a dir copied twice) is counted once and listed as a duplicate.
A record that does not parse is skipped with a warning naming it; unknown fields are kept as columns.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.errors import ConfigError
from bench.job.record import RECORD_FILE
from contracts.status import Status
from bench.reference import IMAGENET_VAL

log = logging.getLogger(__name__)

# Columns the views group or filter by: present (maybe all null) whatever the records hold.
KNOWN = ("run_id", "timestamp", "task", "status", "model", "device_name", "device_count", "precision", "mode",
         "scenario", "data", "num_classes", "eval_mode", "sweep_id", "batch_size", "input_size", "images_per_s",
         "host", "pid", "heartbeat_at", "heartbeat_interval_s", "error")
HEARTBEATS_BEFORE_DEAD = 3  # a heartbeat older than this many intervals: the process is gone (issue 9's rule)


@dataclass
class Report:
    """The loaded records and what the report was asked for; every table and plot is made from this."""

    records: pd.DataFrame                      # one row per unique record; list-valued fields kept as lists
    skipped: list[str] = field(default_factory=list)   # "path: reason" for each record that did not parse
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)  # run_id + path of each extra copy
    target_top1: dict[str, float] = field(default_factory=dict)    # dataset name -> val top-1 (%) to time
    # per section key, its records and tables: made once, for the markdown and the dashboard alike
    selected: dict[str, pd.DataFrame] = field(default_factory=dict)
    built: dict[str, list[tuple[str, pd.DataFrame]]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ loading
def find_records(dirs: list[str | Path]) -> list[Path]:
    """Every ``record.json`` under ``dirs``; a missing dir or one without records is a ConfigError."""
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"results dir not found: {', '.join(missing)} (set report.dirs=[...] or paths.results_dir)")
    paths = sorted({p.resolve() for d in dirs for p in Path(d).rglob(RECORD_FILE)})
    if not paths:
        raise ConfigError(f"no {RECORD_FILE} under {', '.join(map(str, dirs))}: run a benchmark or a sweep first")
    return paths


def _parse(path: Path) -> dict[str, Any]:
    record = json.loads(path.read_text())
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


def _from_config(record: dict[str, Any]) -> dict[str, Any]:
    """What an older record states only in its config: the dataset's classes, crop protocol and folder."""
    data = (record.get("config") or {}).get("data") or {}
    if not isinstance(data, dict):
        return {}
    found = {"num_classes": data.get("num_classes"), "eval_mode": data.get("eval_mode"), "data_root": data.get("root")}
    return {k: v for k, v in found.items() if record.get(k) is None and v is not None}


def load_records(dirs: list[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """All records as a DataFrame (the nested ``config`` left out) and the list of files skipped."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for path in find_records(dirs):
        try:
            record = _parse(path)
        except (OSError, ValueError) as exc:  # truncated or hand-edited file: the rest of the report still counts
            skipped.append(f"{path}: {type(exc).__name__}: {exc}")
            log.warning("skipped unreadable record %s: %s", path, exc)
            continue
        extra = _from_config(record)
        record.pop("config", None)
        rows.append({**record, **extra, "record_path": str(path)})
    if not rows:
        raise ConfigError(f"no readable record under {', '.join(map(str, dirs))} ({len(skipped)} skipped)")
    frame = pd.DataFrame(rows)
    for column in KNOWN:
        if column not in frame:
            frame[column] = None
    return frame, skipped


def split_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(unique records, extra copies): a run_id seen twice is one job whose dir was copied twice."""
    dup = frame["run_id"].notna() & frame.duplicated("run_id", keep="first")
    return frame[~dup].reset_index(drop=True), frame.loc[dup, ["run_id", "record_path"]].reset_index(drop=True)


# ------------------------------------------------------------------------------------ derived columns
def device_label(name: Any, count: Any) -> str:
    """``NVIDIA H100 x8``: what GPUs compare by; records from before the environment was known say ``unknown``."""
    if not isinstance(name, str) or not name:
        return "unknown"
    return f"{name} x{int(count)}" if pd.notna(count) and int(count) > 1 else name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value else None


def is_dead(row: pd.Series, host: str, now: float) -> bool:
    """A ``running`` record whose process is gone: on this host its pid is not alive; elsewhere its heartbeat
    is older than 3 intervals. A record without liveness fields (older harness) cannot tell: not dead."""
    if row.get("status") != Status.RUNNING:
        return False
    pid = _number(row.get("pid"))
    if row.get("host") == host and pid is not None:
        return not _pid_alive(int(pid))
    beat, interval = _number(row.get("heartbeat_at")), _number(row.get("heartbeat_interval_s"))
    return beat is not None and interval is not None and now - beat > HEARTBEATS_BEFORE_DEAD * interval


def dataset_name(row: pd.Series) -> str:
    """What the data was: its config name, with the folder for a class-folder set (two photo sets differ)."""
    data = row.get("data")
    if not isinstance(data, str) or not data:
        return "unknown"
    root = row.get("data_root")
    return f"{data}:{Path(root).name}" if data == "imagefolder" and isinstance(root, str) and root else data


def _dataset_key(row: pd.Series) -> str | None:
    """``imagenet_val`` (bench.reference's name) when a record is on ImageNet's 1,000-class val set, else None."""
    return IMAGENET_VAL if row.get("data") == "imagenet" and _number(row.get("num_classes")) == 1000 else None


def _series(row: pd.Series) -> str | None:
    """What a line may join: the records of one sweep (on one device); a lone run joins nothing."""
    sweep = row.get("sweep_id")
    return f"sweep {sweep}" if isinstance(sweep, str) and sweep else None


def annotate(frame: pd.DataFrame, host: str | None = None, now: float | None = None) -> pd.DataFrame:
    """Add the columns views group by: device, dataset, protocol, series, and ``status`` as shown (``dead``)."""
    frame = frame.copy()
    host, now = host or socket.gethostname(), time.time() if now is None else now
    frame["device"] = [device_label(n, c) for n, c in zip(frame["device_name"], frame["device_count"])]
    frame["dataset"] = frame.apply(dataset_name, axis=1)
    frame["dataset_key"] = frame.apply(_dataset_key, axis=1)
    frame["protocol"] = frame["eval_mode"]  # the crop protocol accuracy was measured with
    frame["series"] = frame.apply(_series, axis=1)
    frame["recorded_status"] = frame["status"]
    dead = frame.apply(is_dead, axis=1, host=host, now=now) if len(frame) else pd.Series(dtype=bool)
    frame.loc[dead.astype(bool), "status"] = Status.DEAD.value
    return frame


def build_report(dirs: list[str | Path], target_top1: dict[str, float] | None = None) -> Report:
    """Every record under ``dirs`` (report jobs left out), deduplicated and annotated."""
    frame, skipped = load_records(dirs)
    frame = frame[frame["task"] != "report"]  # report jobs hold no figures (and one is running right now)
    if frame.empty:
        raise ConfigError(f"only report records under {', '.join(map(str, dirs))}: run a benchmark or a sweep first")
    records, duplicates = split_duplicates(frame)
    for run_id in duplicates["run_id"].unique():
        log.warning("duplicate record %s (counted once): %s", run_id,
                    ", ".join(frame.loc[frame["run_id"] == run_id, "record_path"]))
    return Report(annotate(records), skipped, duplicates, dict(target_top1 or {}))
