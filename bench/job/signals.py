"""Stop signals: SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 end a job cleanly instead of killing it.

``scancel``, a SLURM time limit (SIGUSR1/2 ahead of it), Kubernetes, ``timeout`` and Ctrl-C all ask a
job to stop with one of these. ``StopGuard`` replaces their handlers for the job's duration (after
submitit's or anyone's, which it restores afterwards): the first signal raises ``StopSignal`` in the
main thread, which the life cycle turns into an ``interrupted`` record. ``StopSignal`` is a
``BaseException`` so that no ``except Exception`` in a task swallows it.

A task that can stop better at its own pace (training: at the end of a step, after a checkpoint)
``defer``s: the signal is then only noted (``pending``) until the task calls ``stop_now``, or until
``grace_s`` has passed, when it is raised wherever the main thread is.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
GRACE_S = 10.0  # a deferred stop that takes longer than this is forced (SLURM SIGKILLs after KillWait, 30 s default)

_stopped_by: str | None = None  # the first stop signal this process got, whatever job it hit


class StopSignal(BaseException):
    """Raised in the main thread when a stop signal arrives; ``name`` is e.g. ``SIGTERM``."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")


def stopped_by() -> str | None:
    """The stop signal this process already got (a sweep's later jobs in the same process are not started)."""
    return _stopped_by


def exit_code(signal_name: str) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (SIGTERM: 143)."""
    return 128 + signal.Signals[signal_name].value


def note_stop(signum: int) -> None:
    """Remember the first stop signal of this process (``stopped_by``): a sweep starts no job after it."""
    global _stopped_by
    _stopped_by = _stopped_by or signal.Signals(signum).name


class _Handlers:
    """Install one handler for every stop signal while in the ``with`` block (main thread only); restore after."""

    def __init__(self) -> None:
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Handlers:
        if threading.current_thread() is threading.main_thread():  # Python only allows handlers there
            for signum in STOP_SIGNALS:
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._saved.clear()


class StopGuard(_Handlers):
    """A job's stop handling: the first stop signal raises ``StopSignal`` (or waits, while deferred); repeats are ignored."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        super().__init__()
        self.grace_s = grace_s
        self.pending: StopSignal | None = None  # the signal received, raised or not yet
        self.deferred = False
        self._raised = False
        self._forced = False
        self._finishing = False
        self._timer: threading.Timer | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        note_stop(signum)
        if self._finishing:
            self.pending = self.pending or StopSignal(signum)
            return
        if self._forced:  # the grace timer's re-delivery: the task did not stop in time
            self._forced = False
            self._raise()
        if self.pending is not None:
            return  # already stopping: a repeat (e.g. Ctrl-C reaches a process group twice) must not cut the cleanup short
        self.pending = StopSignal(signum)
        if not self.deferred:
            self._raise()
        self._timer = threading.Timer(self.grace_s, self._force, args=(signum,))
        self._timer.daemon = True
        self._timer.start()

    def _force(self, signum: int) -> None:
        if self.deferred and not self._raised:
            self._forced = True
            # a real signal, so that a main thread blocked in a system call (a sleep, a queue) wakes up too
            signal.pthread_kill(threading.main_thread().ident, signum)

    def _raise(self) -> None:
        assert self.pending is not None
        self._raised = True
        self.undefer()
        raise self.pending

    def defer(self) -> None:
        """From now on a stop signal only sets ``pending``: the task stops at its next ``stop_now``."""
        self.deferred = True

    def undefer(self) -> None:
        """Stop deferring; a stop noted meanwhile is not raised (the task ends anyway, e.g. by an exception)."""
        self.deferred = False
        if self._timer is not None:
            self._timer.cancel()

    def stop_now(self) -> None:
        """Raise the pending stop (if any) here, and stop deferring."""
        self.undefer()
        if self.pending is not None and not self._raised:
            self._raise()

    def finishing(self) -> None:
        """The job is writing its final record: a signal now is noted, never raised (it would cut the write short)."""
        self._finishing = True
        self.undefer()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.undefer()
        super().__exit__(exc_type, exc, tb)


class ForwardSignals(_Handlers):
    """A process whose work runs in other processes: pass every stop signal on; the work stops cleanly by itself.

    The parent of an isolated job forwards to its child (``attach`` names it); a sweep's launcher passes it on
    its own way (``forward``: to its joblib workers, ``scancel`` of a SLURM array). Installed before the work
    starts, so no signal is lost in between; ``received`` is the first one.
    """

    def __init__(self, forward: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.pid: int | None = None
        self.forward = forward
        self.received: StopSignal | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        note_stop(signum)
        self.received = self.received or StopSignal(signum)
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        if self.forward is not None:
            self.forward(signum)
        elif self.pid is not None:
            kill_quietly(self.pid, signum)

    def attach(self, pid: int) -> None:
        self.pid = pid
        if self.received is not None:  # arrived while the child was being started
            self._forward(self.received.signum)


def kill_quietly(pid: int, signum: int) -> None:
    """``os.kill``, for a process that may have just ended."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
