"""The record's schema: every figure a job writes, typed, in one dataclass per area, and the reader that checks it.

A record stays one flat JSON object per job (``record.json``: it survives a SIGKILL and is what users read);
each area below names its part of it. Producers build their part from the dataclass
(``asdict(Timing(...))``); code names a field as ``F.images_per_s``, never as a string, so a typo is an
``AttributeError`` and a field is spelled once, here. ``contracts.reader.validate_record`` reads a raw record
(any version it knows, upgraded to this one) into a typed ``Record``, or says in a ``Problem`` which file and
field are wrong.

To add a field: declare it (``Optional[...] = None`` and a comment) in its area's dataclass, or in a new
dataclass appended to ``AREAS``; ``F``, the reader's type checks, the report's columns and the tests' fake
records follow. A field whose meaning or type changes needs ``SCHEMA_VERSION + 1`` and an entry in
``contracts.reader.UPGRADES`` that turns the previous version's records into the new shape.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from contracts.record_bench import (Backend, BatchStep, BenchSetup, Compile, Cost, Energy, GpuNeighbours, GpuSampling,
                                    GpuState, Latency, Loader, Machine, Memory, Offline, Profile, Repeats, Server,
                                    StepClocks, Timing)
from contracts.record_fields import VIEW
from contracts.record_job import (CompareSummary, Environment, Identity, Interruption, Liveness, ReportSummary,
                                  Storage)
from contracts.record_train import Ablation, TimeToAccuracy, Training, TrainThroughput
from contracts.status import Status

SCHEMA_VERSION = 2


AREAS: tuple[type, ...] = (Identity, Liveness, Interruption, Storage, Environment, BenchSetup, Timing, StepClocks, Compile,
                           Backend, Latency, Server, Offline, Repeats, Cost, Memory, Machine, GpuState, GpuSampling,
                           GpuNeighbours, Energy, Loader, BatchStep, Profile, Training, TimeToAccuracy, TrainThroughput,
                           Ablation, ReportSummary, CompareSummary)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    area: type
    type: Any        # the resolved annotation
    view: bool       # a column the report always has

    @property
    def nested(self) -> bool:
        """A list or an object (config, per-step times, curves): not a summary's scalar."""
        kinds = typing.get_args(self.type) if typing.get_origin(self.type) is Union else (self.type,)
        return any(typing.get_origin(k) in (list, dict) for k in kinds)


def _specs() -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for area in AREAS:
        hints = typing.get_type_hints(area)
        for f in dataclasses.fields(area):
            if f.name in specs:
                raise TypeError(f"record field {f.name!r} declared twice: {specs[f.name].area.__name__} and {area.__name__}")
            specs[f.name] = FieldSpec(f.name, area, hints[f.name], bool(f.metadata.get(VIEW)))
    return specs


FIELDS: dict[str, FieldSpec] = _specs()
F = types.SimpleNamespace(**{name: name for name in FIELDS})  # F.images_per_s == "images_per_s"; F.typo: AttributeError
REQUIRED = (F.schema_version, F.run_id, F.timestamp, F.task, F.status)
STATUSES = tuple(s.value for s in Status if s is not Status.DEAD)  # dead is the report's view, never written
VIEW_FIELDS = tuple(name for name, spec in FIELDS.items() if spec.view)


def names(*areas: type) -> tuple[str, ...]:
    """The field names of ``areas``, in declaration order (e.g. ``names(GpuState)``)."""
    return tuple(f.name for area in areas for f in dataclasses.fields(area))


def part(area: type, values: Mapping[str, Any]) -> Any:
    """The ``area`` dataclass of the fields ``values`` holds (a record or a figures dict), the others at their default."""
    return area(**{k: values[k] for k in names(area) if k in values})
