"""What tells a live job from a dead one: host, pid, start time and a heartbeat refreshed while it runs.

A job killed without a word leaves its record ``running`` forever; a report compares ``pid`` with the
processes of ``host`` (same host) or ``heartbeat_at`` with ``heartbeat_interval_s`` (other hosts) to
call it ``dead`` instead.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from omegaconf import DictConfig

from contracts.errors import ConfigError
from contracts.record import F, Liveness

log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL_S = 30.0


def heartbeat_interval(cfg: DictConfig) -> float:
    """``heartbeat_interval_s`` of the config (30 s when absent), checked: a positive number of seconds."""
    value = cfg.get("heartbeat_interval_s", HEARTBEAT_INTERVAL_S)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"heartbeat_interval_s must be a positive number of seconds, got {value!r}")
    return float(value)


def liveness_fields(interval_s: float) -> dict[str, Any]:
    now = time.time()
    return asdict(Liveness(host=socket.gethostname(), pid=os.getpid(), started_at=now, heartbeat_at=now,
                           heartbeat_interval_s=float(interval_s)))


class Heartbeat:
    """Rewrite the record (atomically) every ``heartbeat_interval_s`` with a fresh ``heartbeat_at``, from a daemon thread.

    Stopped (and joined) before the final write, so a late beat never puts ``running`` back over a final status.
    """

    def __init__(self, record: dict[str, Any], write: Callable[[dict[str, Any]], object]) -> None:
        self.record, self.write = record, write
        self.interval = float(record[F.heartbeat_interval_s])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="record-heartbeat", daemon=True)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            self.record[F.heartbeat_at] = time.time()
            try:
                # a copy: the task may add fields meanwhile (dict.copy is atomic under the GIL, iterating is not)
                self.write(self.record.copy())
                failing = False
            except OSError as exc:  # e.g. a full disk: the job goes on (its final write keeps the record elsewhere)
                if not failing:
                    log.warning("heartbeat: the record could not be rewritten: %s", exc)
                failing = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
