"""The record's areas every job shares: identity, liveness, how it ended, what ran, a report's summary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from contracts.record_fields import view


@dataclass
class Identity:
    """Who the job is: written by ``new_record`` when it starts. The first five are required in every record."""

    schema_version: int                   # this schema's version when the record was written
    run_id: str = view()                 # 12 hex digits, unique per job (also its W&B run id)
    timestamp: str = view()              # ISO 8601 UTC, when the job started
    task: str = view()                   # benchmark | train | eval | report
    status: str = view()                 # a Status value (running until the job ends)
    error: Optional[str] = view()        # one line: why the job did not end ok
    model: Optional[str] = view()        # the model config's name
    data: Optional[str] = view()         # the data config's name
    config: Optional[dict[str, Any]] = None  # the resolved config (as written where it does not resolve)
    out_dir: Optional[str] = None         # the job's output dir (absolute)
    sweep_id: Optional[str] = view()     # the sweep dir's name; None outside a multirun
    sweep_dir: Optional[str] = None       # the sweep dir (absolute)
    job_num: Optional[int] = None         # Hydra's job number in the sweep
    overrides: Optional[list[str]] = None  # the job's command-line overrides


@dataclass
class Liveness:
    """What tells a live job from a dead one (``bench.job.liveness``)."""

    host: Optional[str] = view()                   # hostname of the job's process
    pid: Optional[int] = view()                    # its process id
    started_at: Optional[float] = None              # epoch seconds
    heartbeat_at: Optional[float] = view()         # epoch seconds of the last rewrite while running
    heartbeat_interval_s: Optional[float] = view()  # seconds between heartbeats


@dataclass
class Interruption:
    """How a job that did not finish ended: a stop signal (``interrupted``) or a silent death (``killed``)."""

    signal: Optional[str] = None         # the stop signal's name, e.g. SIGTERM (interrupted)
    step_reached: Optional[int] = None   # steps done when it stopped
    killed_signal: Optional[str] = None  # the signal that killed the job process, e.g. SIGKILL (killed)
    exit_code: Optional[int] = None      # the job process's exit code (negative: killed by that signal)


@dataclass
class Environment:
    """What ran: versions, host facts and the device (``bench.job.environment``)."""

    platform: Optional[str] = None       # platform.platform()
    python: Optional[str] = None         # Python version
    torch: Optional[str] = None          # torch version
    torchvision: Optional[str] = None    # torchvision version
    lightning: Optional[str] = None      # lightning version
    cuda: Optional[str] = None           # CUDA runtime version (None on CPU)
    cudnn: Optional[int] = None          # cuDNN version (None on CPU)
    device: Optional[str] = None         # torch device, e.g. cuda:0 (the report shows its own device label)
    device_type: Optional[str] = None    # cpu | cuda
    device_name: Optional[str] = view()  # GPU name or CPU model
    device_count: Optional[int] = view()  # devices the job used (training: its processes)
    cpu: Optional[str] = None            # CPU model
    cpu_threads: Optional[int] = None    # torch's intra-op threads
    git_commit: Optional[str] = None     # the harness checkout's commit
    git_dirty: Optional[bool] = None     # uncommitted changes in it
    slurm_job_id: Optional[str] = None   # $SLURM_JOB_ID when under SLURM


@dataclass
class ReportSummary:
    """task=report: the counts and the files written (``bench.report.task``)."""

    n_records: Optional[int] = None
    n_ok: Optional[int] = None
    n_failed: Optional[int] = None
    n_running: Optional[int] = None
    n_dead: Optional[int] = None
    n_duplicates: Optional[int] = None
    n_skipped: Optional[int] = None
    report_csv: Optional[str] = None
    report_parquet: Optional[str] = None
    report_markdown: Optional[str] = None
    report_dashboard: Optional[str] = None


@dataclass
class Storage:
    """Where the record went when its final write failed (``bench.job.storage``); None when it was written."""

    write_error: Optional[str] = None     # e.g. "ENOSPC (No space left on device) writing <out_dir>/record.json"
    record_fallback: Optional[str] = None  # where the record was written instead (paths.fallback_dir/<run_id>/)


@dataclass
class CompareSummary:
    """task=compare: the sides, the counts per verdict, the suite line and the files written (``bench.report.compare``)."""

    compare_baseline: Optional[str] = None      # the baseline side's label (a value of compare.by, or its dirs)
    compare_candidate: Optional[str] = None     # the candidate side's label
    compare_by: Optional[str] = None            # the field the records were split by (null: two results dirs)
    n_pairs: Optional[int] = None               # settings found on both sides
    n_unpaired: Optional[int] = None            # settings found on one side only
    n_faster: Optional[int] = None              # pairs per verdict
    n_slower: Optional[int] = None
    n_no_change: Optional[int] = None
    n_inconclusive: Optional[int] = None
    n_noisy: Optional[int] = None
    n_not_comparable: Optional[int] = None      # pairs without a figure both sides have
    suite_ratio: Optional[float] = None         # geomean of the pairs' ratios (> 1: candidate faster)
    suite_low: Optional[float] = None           # its interval at compare.confidence
    suite_high: Optional[float] = None
    compare_markdown: Optional[str] = None      # output paths
    compare_csv: Optional[str] = None
    compare_dashboard: Optional[str] = None
