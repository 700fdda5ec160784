"""A failed composition as one line: Hydra reports an unknown key, a bad value or a missing preset in several
lines (its message, OmegaConf's cause with ``full_key``/``object_type``, a hint about ``HYDRA_FULL_ERROR``);
``one_line`` says the same in one, naming the key and what is valid. Imports no torch (run before any task)."""
import re
from dataclasses import is_dataclass
from typing import Optional

from hydra.errors import HydraException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from contracts.config import schema_keys
from contracts.errors import ConfigError

ENUM_MESSAGE = re.compile(r"Invalid value '(?P<value>.*)', expected one of \[(?P<choices>.*)\]")


def _joined(text: str) -> str:
    """Hydra's multi-line message in one line: a header, then its indented list (available options) as a list."""
    head, items = [], []
    for line in text.partition("Config search path:")[0].splitlines():  # the search path: Hydra's internals
        if line.startswith(("\t", "    ")) and head and head[-1].endswith(":"):
            items.append(line.strip())
        elif line.strip():
            if items:
                head[-1] += " " + ", ".join(items)
                items = []
            head.append(line.strip())
    if items:
        head[-1] += " " + ", ".join(items)
    return " ".join(head)


def _omegaconf_line(exc: OmegaConfBaseException, context: str) -> str:
    key = exc.full_key or ""
    if isinstance(exc, (ConfigAttributeError, ConfigKeyError)) and "not in" in str(exc):
        parent = key.rpartition(".")[0]
        if exc.object_type is not None and is_dataclass(exc.object_type):
            return f"unknown key {key}; valid keys of {parent}: {', '.join(schema_keys(exc.object_type))}"
        return f"unknown key {key}: {parent or 'the config'} has no such key ({_joined(context)})"
    first = str(exc).splitlines()[0]
    if isinstance(exc, ValidationError):
        choice = ENUM_MESSAGE.fullmatch(first)
        if choice:
            return f"{key}: invalid value '{choice['value']}'; valid choices: {choice['choices']}"
        return f"{key}: {first[0].lower()}{first[1:]}" if key else first
    return f"{key}: {first}" if key else first


def one_line(exc: BaseException) -> Optional[str]:
    """The one line a composition (or config check) failure deserves; None for anything else (a bug)."""
    link: Optional[BaseException] = exc
    while link is not None:
        if isinstance(link, ConfigError):
            return str(link)
        # OmegaConf keeps a resolver's exception only as __context__; elsewhere that is an unrelated earlier error
        link = link.__cause__ or (link.__context__ if isinstance(link, (OmegaConfBaseException, HydraException)) else None)
    cause = exc.__cause__
    if isinstance(exc, HydraException) and isinstance(cause, OmegaConfBaseException):
        return _omegaconf_line(cause, str(exc))
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_line(exc, "")
    if isinstance(exc, HydraException):
        return _joined(str(exc))
    return None
