"""The one status vocabulary of a record: every task, the report and the dashboard use these values."""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A job's status; a ``str`` so records stay plain JSON (``"ok"``) and compare equal to their text."""

    RUNNING = "running"          # written when the job starts; a finished job never keeps it
    OK = "ok"
    OOM = "oom"                  # out of memory, with the batch size tried
    ERROR = "error"              # bad input or a bug: the record's ``error`` says which
    DIVERGED = "diverged"        # NaN / inf loss in training
    INTERRUPTED = "interrupted"  # Ctrl-C or a stop signal (SIGTERM, SIGINT, SIGUSR1/2)
    KILLED = "killed"            # died without a word (SIGKILL, the OOM killer, a segfault): written by its parent
    DEAD = "dead"                # never written: what a report calls a ``running`` record whose process is gone

    def __str__(self) -> str:
        return self.value


FINAL_STATUSES = frozenset(s for s in Status if s not in (Status.RUNNING, Status.DEAD))
FAILED_STATUSES = FINAL_STATUSES - {Status.OK}
