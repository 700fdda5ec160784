"""Records in, one DataFrame out: loading, merging copies, liveness, and the columns every view groups by.

Records copied together from several machines merge: rows are grouped by device (name x count), and a
record seen twice (same ``run_id``, e.g. a dir copied twice) is counted once and listed as a duplicate.
Every record is read through the schema (``contracts.record.validate_record``, older versions upgraded): one
that is unreadable, not JSON, of an unknown version, missing a required field or holding a field of the wrong
type is skipped with one warning naming the file and the field, and the report goes on without it; so does a
file that vanishes while the report reads (a job dir deleted, a copy rewritten). Unknown fields are kept as
columns.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.errors import ConfigError
from bench.job.record import RECORD_FILE
from contracts.status import Status
from bench.reference import IMAGENET_VAL
from contracts.reader import Problem, Record, validate_record
from contracts.record import VIEW_FIELDS, F

log = logging.getLogger(__name__)

# Columns the views group or filter by: present (maybe all null) whatever the records hold.
KNOWN = VIEW_FIELDS
HEARTBEATS_BEFORE_DEAD = 3  # a heartbeat older than this many intervals: the process is gone (issue 9's rule)
Reader = Callable[[Path], "Record | Problem"]


@dataclass
class Report:
    """The loaded records and what the report was asked for; every table and plot is made from this."""

    records: pd.DataFrame                      # one row per unique record; list-valued fields kept as lists
    skipped: list[str] = field(default_factory=list)   # "path: field: reason" for each record skipped
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)  # run_id + path of each extra copy
    target_top1: dict[str, float] = field(default_factory=dict)    # dataset name -> val top-1 (%) to time
    # per section key, its records and tables: made once, for the markdown and the dashboard alike
    selected: dict[str, pd.DataFrame] = field(default_factory=dict)
    built: dict[str, list[tuple[str, pd.DataFrame]]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ loading
def _walk(root: Path) -> list[Path]:
    """``record.json`` files under ``root``; a dir deleted while it is walked is passed over, not an error."""
    found = []
    for dirpath, _, files in os.walk(root, onerror=lambda exc: log.debug("not walked: %s", exc)):
        if RECORD_FILE in files:
            found.append(Path(dirpath, RECORD_FILE).resolve())
    return found


def find_records(dirs: list[str | Path]) -> list[Path]:
    """Every ``record.json`` under ``dirs``; a missing dir or one without records is a ConfigError."""
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"results dir not found: {', '.join(missing)} (the task's dirs: report.dirs=[...], compare.dirs / baseline / candidate, or paths.results_dir)")
    paths = sorted({p for d in dirs for p in _walk(Path(d))})
    if not paths:
        raise ConfigError(f"no {RECORD_FILE} under {', '.join(map(str, dirs))}: run a benchmark or a sweep first")
    return paths


def read_one(path: Path) -> Record | Problem:
    """One record file through the schema, or the problem that keeps it out of the report."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Problem(str(path), None, "vanished while the report read it (its job dir deleted or moved?)")
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(str(path), None, f"unreadable: {exc}")
    try:
        raw = json.loads(text)
    except ValueError as exc:  # truncated, hand-edited, or a copy caught half-written
        return Problem(str(path), None, f"not valid JSON ({exc})")
    return validate_record(raw, str(path))


def _from_config(record: dict[str, Any]) -> dict[str, Any]:
    """What an older record states only in its config: the dataset's classes, crop protocol and folder."""
    data = (record.get(F.config) or {}).get(F.data) or {}
    if not isinstance(data, dict):
        return {}
    found = {F.num_classes: data.get(F.num_classes), F.eval_mode: data.get(F.eval_mode), "data_root": data.get("root")}
    return {k: v for k, v in found.items() if record.get(k) is None and v is not None}


def load_records(dirs: list[str | Path], read: Reader = read_one) -> tuple[pd.DataFrame, list[str]]:
    """All records as a DataFrame (the nested ``config`` left out) and the list of files skipped (one warning each).

    ``read`` turns a found path into a record or a problem (a seam: tests change the files between finding and reading).
    """
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for path in find_records(dirs):
        checked = read(path)
        if isinstance(checked, Problem):  # the rest of the report still counts
            skipped.append(str(checked))
            log.warning("skipped record %s", checked)
            continue
        record = checked.flat()
        extra = _from_config(record)
        record.pop(F.config, None)
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
    dup = frame[F.run_id].notna() & frame.duplicated(F.run_id, keep="first")
    return frame[~dup].reset_index(drop=True), frame.loc[dup, [F.run_id, "record_path"]].reset_index(drop=True)


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
    """A ``running`` record whose process is gone: its heartbeat is older than HEARTBEATS_BEFORE_DEAD intervals
    (whatever its pid: a pid seen alive may be another process's, reused), or, its heartbeat fresh or absent, it
    ran on this host and its pid is not alive. A record without liveness fields (older harness) cannot tell: not dead."""
    if row.get(F.status) != Status.RUNNING:
        return False
    beat, interval = _number(row.get(F.heartbeat_at)), _number(row.get(F.heartbeat_interval_s))
    if beat is not None and interval is not None and now - beat > HEARTBEATS_BEFORE_DEAD * interval:
        return True
    pid = _number(row.get(F.pid))
    return row.get(F.host) == host and pid is not None and not _pid_alive(int(pid))


def dataset_name(row: pd.Series) -> str:
    """What the data was: its config name, with the folder for a class-folder set (two photo sets differ)."""
    data = row.get(F.data)
    if not isinstance(data, str) or not data:
        return "unknown"
    root = row.get("data_root")
    return f"{data}:{Path(root).name}" if data == "imagefolder" and isinstance(root, str) and root else data


def _dataset_key(row: pd.Series) -> str | None:
    """``imagenet_val`` (bench.reference's name) when a record is on ImageNet's 1,000-class val set, else None."""
    return IMAGENET_VAL if row.get(F.data) == "imagenet" and _number(row.get(F.num_classes)) == 1000 else None


def _series(row: pd.Series) -> str | None:
    """What a line may join: the records of one sweep (on one device); a lone run joins nothing."""
    sweep = row.get(F.sweep_id)
    return f"sweep {sweep}" if isinstance(sweep, str) and sweep else None


def annotate(frame: pd.DataFrame, host: str | None = None, now: float | None = None) -> pd.DataFrame:
    """Add the columns views group by: device, dataset, protocol, series, and ``status`` as shown (``dead``)."""
    frame = frame.copy()
    host, now = host or socket.gethostname(), time.time() if now is None else now
    # the device label (name x count) takes the place of the record's own device field (e.g. cuda:0) in the frame
    frame[F.device] = [device_label(n, c) for n, c in zip(frame[F.device_name], frame[F.device_count])]
    frame["dataset"] = frame.apply(dataset_name, axis=1)
    frame["dataset_key"] = frame.apply(_dataset_key, axis=1)
    frame["protocol"] = frame[F.eval_mode]  # the crop protocol accuracy was measured with
    frame["series"] = frame.apply(_series, axis=1)
    frame["recorded_status"] = frame[F.status]
    dead = frame.apply(is_dead, axis=1, host=host, now=now) if len(frame) else pd.Series(dtype=bool)
    frame.loc[dead.astype(bool), F.status] = Status.DEAD.value
    return frame


def build_report(dirs: list[str | Path], target_top1: dict[str, float] | None = None,
                 read: Reader = read_one) -> Report:
    """Every record under ``dirs`` (report jobs left out), deduplicated and annotated; ``read`` as in ``load_records``."""
    frame, skipped = load_records(dirs, read)
    frame = frame[frame[F.task] != "report"]  # report jobs hold no figures (and one is running right now)
    if frame.empty:
        raise ConfigError(f"only report records under {', '.join(map(str, dirs))}: run a benchmark or a sweep first")
    records, duplicates = split_duplicates(frame)
    for run_id in duplicates[F.run_id].unique():
        log.warning("duplicate record %s (counted once): %s", run_id,
                    ", ".join(frame.loc[frame[F.run_id] == run_id, "record_path"]))
    return Report(annotate(records), skipped, duplicates, dict(target_top1 or {}))
