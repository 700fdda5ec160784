"""The job spec: a job's identity, built once by the entry point and passed down explicitly.

Hydra keeps a job's identity (its output dir, its sweep, its job number, its overrides, its logging) in
a process-global (``HydraConfig``). Read from below the entry point, that global is a hidden channel: an
isolated child process or a relaunched DDP rank has to rebuild it before anything works. ``run.py``
reads it once into a ``JobSpec``; the life cycle, the isolated child (through a JSON file beside the
record), the record's identity fields and the DDP relaunch take this spec instead.

The identity fields carry the record's own field names (``out_dir``, ``sweep_id``, ``sweep_dir``,
``job_num``, ``overrides``), so a record's identity is the spec's, field for field.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Union

SPEC_FILE = "job_spec.json"
Verbose = Union[bool, str, list[str]]  # Hydra's ``hydra.verbose``: true, one logger's name, or several


@dataclass(frozen=True)
class JobSpec:
    """Who a job is and how it was started; everything the job layer used to read from ``HydraConfig``."""

    out_dir: str  # the job's own output dir, absolute: record.json, checkpoints, logs
    multirun: bool = False  # one job of a ``-m`` sweep: a failed job lets the sweep go on
    sweep_id: str | None = None  # the sweep dir's name (multirun only)
    sweep_dir: str | None = None  # the sweep's dir, absolute (multirun only)
    job_num: int | None = None  # the job's number in its sweep (multirun only)
    overrides: tuple[str, ...] = ()  # the job's task overrides, as Hydra gives them (a sweep's: this job's values)
    from_cli: bool = False  # started by run.py's command line (a Hydra app), not called from Python
    isolated: bool = False  # running in the child process of an isolated job (``bench.job.isolation``)
    # Hydra's job logging, resolved by the parent (its log file is ``<out_dir>/<job name>.log``): an isolated
    # child configures its logging from it exactly as Hydra does for a job; None: not a Hydra job, leave logging be
    job_logging: dict[str, Any] | None = None
    verbose: Verbose = False  # ``hydra.verbose``: the loggers at DEBUG
    # what a relaunched DDP rank needs to start this same job again (bench/training/relaunch.py)
    hydra_overrides: tuple[str, ...] = ()  # the command line's ``hydra.*`` overrides (launcher, sweeper, dirs ...)
    config_flags: tuple[str, ...] = ()  # the command line's ``--config-name/--config-path/--config-dir`` flags

    def __post_init__(self) -> None:
        if not self.multirun and (self.sweep_id, self.sweep_dir, self.job_num) != (None, None, None):
            raise ValueError(f"a single run has no sweep: sweep_id={self.sweep_id!r}, sweep_dir={self.sweep_dir!r}, "
                             f"job_num={self.job_num!r}")
        # lists from JSON (or a caller) become tuples: the spec is a frozen value
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "hydra_overrides", tuple(self.hydra_overrides))
        object.__setattr__(self, "config_flags", tuple(self.config_flags))

    @classmethod
    def for_dir(cls, out_dir: str | os.PathLike[str]) -> JobSpec:
        """A job called from Python (a test, a notebook, a tool): its dir, no sweep, no overrides, no Hydra logging."""
        return cls(out_dir=str(Path(out_dir).resolve()))

    def child(self) -> JobSpec:
        """This spec as the isolated job's child process gets it."""
        return replace(self, isolated=True)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:  # a spec written by another version of the harness: say so rather than drop fields
            raise ValueError(f"job spec has unknown fields {unknown}")
        return cls(**data)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the spec as JSON at ``path`` (the isolated child reads it with ``read``)."""
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> JobSpec:
        return cls.from_json(Path(path).read_text())

