"""Reading a record through the schema (``contracts.record``): the typed record, or the named problem.

``validate_record`` checks the version (an older one is upgraded through ``UPGRADES``, an unknown one is a
problem), the required identity fields, and every known field's type: ints pass where floats are declared,
bools never pass for numbers, None only where the field is optional. Fields the schema does not know are kept
as they are (a newer harness's, a user's) but never trusted for typing.
"""
from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from contracts.record import FIELDS, REQUIRED, SCHEMA_VERSION, STATUSES, F, part


@dataclass(frozen=True)
class Problem:
    """Why a record cannot be read: its file, the field (None: the file as a whole) and what is wrong."""

    path: str
    field: Optional[str]
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {f'field {self.field!r}: ' if self.field else ''}{self.message}"


@dataclass
class Record:
    """A record that passed the schema: its known fields typed by area, unknown ones kept as they were.

    ``fields`` holds the known fields the record has (absent ones stay absent, as in the file); ``extra``
    the fields this schema does not know (a newer harness's, a user's): kept, never type-checked.
    """

    path: str
    fields: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def area(self, area: type) -> Any:
        """This record's part as its dataclass, e.g. ``record.area(Timing).mean_s``."""
        return part(area, self.fields)

    def flat(self) -> dict[str, Any]:
        """The flat dict as ``record.json`` holds it (known and unknown fields), at this schema version."""
        return {**self.extra, **self.fields}


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had the same fields, untyped: nothing checked them when written. Reading one runs version 2's
    type checks on it, so a v1 record whose figure has a wrong type is named like any other."""
    return {**raw, F.schema_version: 2}


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_v1}  # version -> the next version's shape


def _kind(tp: Any) -> str:
    """A type as a reader says it: ``int``, ``list of float``, ``int, 'auto' or null``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union:
        return " or ".join(_kind(a) if a is not type(None) else "null" for a in args)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin is list:
        return f"list of {_kind(args[0])}" if args else "list"
    if origin is dict:
        return "object"
    return "any" if tp is Any else getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    """``value`` (parsed JSON) is of type ``tp``: ints pass for floats, bools never for numbers, None only when optional."""
    if tp is Any:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union:
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args and not isinstance(value, bool)
    if tp is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_matches(v, args[1]) for v in value.values()))
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _value_text(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def validate_record(raw: Any, path: str) -> Record | Problem:
    """The typed record, or the first problem found: not an object, an unknown version, a missing required field,
    a known field of the wrong type (``"device_count": "two"``). Records of an older version are upgraded first."""
    if not isinstance(raw, dict):
        return Problem(path, None, f"expected a JSON object, got {type(raw).__name__}")
    version = raw.get(F.schema_version)
    if not _matches(version, int):
        return Problem(path, F.schema_version, f"missing or not an integer ({_value_text(version)})")
    if version != SCHEMA_VERSION and version not in UPGRADES:
        known = ", ".join(map(str, sorted({*UPGRADES, SCHEMA_VERSION})))
        newer = "; a newer harness wrote it?" if version > SCHEMA_VERSION else ""
        return Problem(path, F.schema_version, f"unknown version {version} (this harness reads {known}{newer})")
    while raw[F.schema_version] != SCHEMA_VERSION:
        raw = UPGRADES[raw[F.schema_version]](raw)
    for name in REQUIRED:
        if raw.get(name) is None:
            return Problem(path, name, "missing (required in every record)")
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in raw.items():
        spec = FIELDS.get(name)
        if spec is None:
            extra[name] = value
            continue
        if not _matches(value, spec.type):
            return Problem(path, name, f"expected {_kind(spec.type)}, got {_value_text(value)}")
        known[name] = value
    if known[F.status] not in STATUSES:
        return Problem(path, F.status, f"unknown status {_value_text(known[F.status])}; valid: {', '.join(STATUSES)}")
    return Record(path, known, extra)
