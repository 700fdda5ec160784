"""Failures the harness reports as one clear line (and records), never as a traceback wall."""
from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """A bad option value, found before any work is done."""


class TaskFailure(RuntimeError):
    """A run that stopped for a known reason; ``status`` goes into the record (``oom``, ``diverged``, ...)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_choice(option: str, value: object, choices: Iterable[object]) -> None:
    """Raise ``ConfigError`` naming the valid choices when ``value`` is not one of them."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"unknown {option} {value!r}; valid choices: {', '.join(map(str, choices))}")


def check_positive(option: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{option} must be a positive integer, got {value!r}")
