"""The one error vocabulary: failures the harness reports as one clear line (and records), never a traceback wall."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts.status import Status


class ConfigError(ValueError):
    """A bad option value, found before any work is done."""


class TaskFailure(RuntimeError):
    """A run that stopped for a known reason; ``status`` goes into the record (``oom``, ``diverged``, ...)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = Status(status)


def check_choice(option: str, value: object, choices: Iterable[object]) -> None:
    """Raise ``ConfigError`` naming the valid choices when ``value`` is not one of them."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"unknown {option} {value!r}; valid choices: {', '.join(map(str, choices))}")


def check_positive(option: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{option} must be a positive integer, got {value!r}")


def check_number(option: str, value: Any, minimum: float, inclusive: bool) -> None:
    """A real number above ``minimum`` (or equal to it when ``inclusive``)."""
    bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            value >= minimum if inclusive else value > minimum):
        raise ConfigError(f"{option} must be a number {bound}, got {value!r}")


def check_count(option: str, value: Any) -> None:
    """A non-negative integer (a count that may be zero)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{option} must be a non-negative integer, got {value!r}")


def config_error_from(exc: BaseException) -> ConfigError | None:
    """The one place that turns a config or Hydra instantiation error into the one-line message it deserves.

    - a ``ConfigError`` raised under Hydra's or OmegaConf's wrapping (a constructor's check, a resolver's) is
      the message itself (OmegaConf keeps the resolver's exception only as ``__context__``);
    - Hydra wraps a constructor's exception in ``InstantiationException`` whose text repeats the target path
      and context; a ``ValueError``/``TypeError`` from a constructor is the constructor rejecting an option,
      so its own first line is the message;
    - any other OmegaConf error (an unknown key, a value of the wrong type) is one line too.
    Returns None for anything that is not a bad option.
    """
    from hydra.errors import InstantiationException
    from omegaconf.errors import OmegaConfBaseException

    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, ConfigError):
            return link
        link = link.__cause__ or (link.__context__ if isinstance(link, OmegaConfBaseException) else None)
    if isinstance(exc, OmegaConfBaseException):
        return ConfigError(str(exc).splitlines()[0])
    if not isinstance(exc, InstantiationException):
        return None
    cause = exc.__cause__
    if cause is None or isinstance(cause, (ValueError, TypeError, ImportError, AttributeError)):
        text = str(cause if cause is not None else exc)
        return ConfigError(text.splitlines()[0] if text else type(cause).__name__)
    return None
