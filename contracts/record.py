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
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from contracts.status import Status

SCHEMA_VERSION = 2
VIEW = "view"  # field metadata: a column every report view may group or filter by (present even when unset)


def _view() -> Any:
    return field(default=None, metadata={VIEW: True})


# ----------------------------------------------------------------------------------------------- areas
@dataclass
class Identity:
    """Who the job is: written by ``new_record`` when it starts. The first five are required in every record."""

    schema_version: int                   # this schema's version when the record was written
    run_id: str = _view()                 # 12 hex digits, unique per job (also its W&B run id)
    timestamp: str = _view()              # ISO 8601 UTC, when the job started
    task: str = _view()                   # benchmark | train | eval | report
    status: str = _view()                 # a Status value (running until the job ends)
    error: Optional[str] = _view()        # one line: why the job did not end ok
    model: Optional[str] = _view()        # the model config's name
    data: Optional[str] = _view()         # the data config's name
    config: Optional[dict[str, Any]] = None  # the resolved config (as written where it does not resolve)
    out_dir: Optional[str] = None         # the job's output dir (absolute)
    sweep_id: Optional[str] = _view()     # the sweep dir's name; None outside a multirun
    sweep_dir: Optional[str] = None       # the sweep dir (absolute)
    job_num: Optional[int] = None         # Hydra's job number in the sweep
    overrides: Optional[list[str]] = None  # the job's command-line overrides


@dataclass
class Liveness:
    """What tells a live job from a dead one (``bench.job.liveness``)."""

    host: Optional[str] = _view()                   # hostname of the job's process
    pid: Optional[int] = _view()                    # its process id
    started_at: Optional[float] = None              # epoch seconds
    heartbeat_at: Optional[float] = _view()         # epoch seconds of the last rewrite while running
    heartbeat_interval_s: Optional[float] = _view()  # seconds between heartbeats


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
    device_name: Optional[str] = _view()  # GPU name or CPU model
    device_count: Optional[int] = _view()  # devices the job used (training: its processes)
    cpu: Optional[str] = None            # CPU model
    cpu_threads: Optional[int] = None    # torch's intra-op threads
    git_commit: Optional[str] = None     # the harness checkout's commit
    git_dirty: Optional[bool] = None     # uncommitted changes in it
    slurm_job_id: Optional[str] = None   # $SLURM_JOB_ID when under SLURM


@dataclass
class BenchSetup:
    """What a benchmark job was asked to time (``bench`` options as they ran)."""

    scenario: Optional[str] = _view()    # tf_book | single_stream | offline | server
    mode: Optional[str] = _view()        # forward | forward_backward
    batch_size: Union[int, Literal["auto"], None] = _view()  # "auto" until the offline search picks one
    input_size: Optional[int] = _view()  # pixels per side
    precision: Optional[str] = _view()   # fp32 | bf16 | fp16
    memory_format: Optional[str] = None  # contiguous | channels_last
    compile: Optional[str] = None        # off or the torch.compile mode
    steps: Optional[int] = None          # timed steps per repeat
    burn_in: Optional[int] = None        # untimed steps first
    repeats: Optional[int] = None        # repeats of the timed steps
    input: Optional[str] = None          # synthetic | loader
    profiled: Optional[bool] = None      # the timed figures are the profiled steps' (bench.profile=true)


@dataclass
class Timing:
    """The timed steps' statistics (``bench.benchmark.timing.summarize``, the scenarios)."""

    mean_s: Optional[float] = None            # seconds per step (batch), mean
    std_s: Optional[float] = None             # population standard deviation
    median_s: Optional[float] = None          # seconds per step, median
    p90_s: Optional[float] = None             # 90th percentile step time
    p99_s: Optional[float] = None             # 99th percentile step time
    min_s: Optional[float] = None             # fastest step
    max_s: Optional[float] = None             # slowest step
    images_per_s: Optional[float] = _view()   # throughput (server: queries/s achieved; training: train images/s)
    images_per_s_std: Optional[float] = None  # spread of per-block throughput (offline)
    step_times_s: Optional[list[float]] = None    # every timed step (single_stream: every query's latency)
    repeat_means_s: Optional[list[float]] = None  # mean step time of each repeat
    repeat_std_s: Optional[float] = None      # spread of the repeats' means
    block_times_s: Optional[list[float]] = None   # seconds per block of steps (offline)
    duration_s: Optional[float] = None        # wall seconds of the measurement (single_stream, server)


@dataclass
class Latency:
    """Per-query latency (single_stream, server); a percentile is None where too few queries back it."""

    latency_p50_s: Optional[float] = None
    latency_p90_s: Optional[float] = None
    latency_p99_s: Optional[float] = None
    latency_p999_s: Optional[float] = None
    latency_mean_s: Optional[float] = None
    latency_std_s: Optional[float] = None
    queries: Optional[int] = None             # queries the figures come from


@dataclass
class Server:
    """The server scenario: offered load, the SLO and the QPS search."""

    qps_offered: Optional[float] = None       # Poisson arrival rate
    qps_achieved: Optional[float] = None      # queries completed per second
    slo_s: Optional[float] = None             # the p99 latency objective
    slo_met: Optional[bool] = None            # p99 within the SLO (None: too few queries to judge)
    max_qps_at_slo: Optional[float] = None    # the search's answer (None: not searched, or never met)
    qps_probes: Optional[list[dict[str, Any]]] = None  # each probe of the search: qps and latency figures
    mean_batch: Optional[float] = None        # mean batch the dynamic batcher served


@dataclass
class Offline:
    """The offline scenario's batch search (``bench.batch_size=auto``)."""

    batch_size_max_fit: Optional[int] = None  # the largest batch that fits
    batch_size_best: Optional[int] = None     # the fastest of the batches tried
    batch_sizes_tried: Optional[list[dict[str, Any]]] = None  # batch_size and images_per_s of each


@dataclass
class Cost:
    """Parameters, counted FLOPs and the share of the device's peak."""

    params: Optional[int] = None               # without aux heads
    params_with_aux: Optional[int] = None
    gmacs_per_image: Optional[float] = None    # forward multiply-accumulates per image
    gflops_per_image_step: Optional[float] = None  # FLOPs per image of the timed step
    achieved_tflops: Optional[float] = None
    peak_tflops: Optional[float] = None        # the device's peak for peak_precision
    peak_precision: Optional[str] = None       # the precision whose peak applies (fp32 on TF32 cores: tf32)
    utilization: Optional[float] = None        # achieved / peak


@dataclass
class Memory:
    """Peak memory of the job (a killed job: its process's peak RSS, from its parent)."""

    peak_memory_mb: Optional[float] = None
    peak_memory_kind: Optional[str] = None     # cuda_max_allocated | process_max_rss


@dataclass
class Machine:
    """What the machine was doing (``bench.benchmark.machine``)."""

    load_avg_start: Optional[float] = None     # 1-minute load average before timing
    load_avg_end: Optional[float] = None       # and after
    noisy: Optional[bool] = None               # load above the run's threads at the start
    cpu_governor: Optional[str] = None         # cpufreq scaling governor


@dataclass
class GpuState:
    """NVML's view of the GPU right after the timed work; None where unreadable (and on CPU)."""

    gpu_clock_sm_mhz: Optional[float] = None
    gpu_clock_mem_mhz: Optional[float] = None
    gpu_power_limit_w: Optional[float] = None  # enforced power limit
    gpu_temperature_c: Optional[float] = None
    gpu_persistence_mode: Optional[bool] = None


@dataclass
class Energy:
    """Energy over the timed windows (NVML or RAPL); None where unreadable or the window is too short."""

    energy_j: Optional[float] = None
    power_w: Optional[float] = None
    energy_j_per_image: Optional[float] = None
    energy_source: Optional[str] = None        # nvml | rapl


@dataclass
class Loader:
    """``bench.input=loader``: the input pipeline against the model (``bench.benchmark.loader``)."""

    decode: Optional[str] = None                       # cpu | gpu
    pipeline_images_per_s: Optional[float] = None      # loader alone
    pipeline_images_per_s_per_worker: Optional[float] = None
    model_images_per_s: Optional[float] = None         # model alone on the same input
    data_bound: Optional[bool] = None                  # end to end below 0.9 x the model alone
    workers_needed: Optional[int] = None               # to feed the model at its own speed
    distinct_images: Optional[int] = None              # distinct images the sampler handed out


@dataclass
class Profile:
    """``bench.profile=true``: time and FLOPs per module (``bench.benchmark.profile``)."""

    profile_overhead: Optional[float] = None   # profiled step time / unprofiled
    profile_depth: Optional[int] = None        # the module level profiled
    modules: Optional[list[dict[str, Any]]] = None  # per module: name, time_s, time_share, gflops, flop_share, ...
    trace_file: Optional[str] = None           # the Chrome / Perfetto trace


@dataclass
class Training:
    """task=train / task=eval (``bench.training.task``)."""

    top1: Optional[float] = None               # validation top-1 (%)
    top5: Optional[float] = None               # validation top-5 (%)
    top1_err: Optional[float] = None
    top5_err: Optional[float] = None
    loss: Optional[float] = None               # validation loss
    num_classes: Optional[int] = _view()
    eval_mode: Optional[str] = _view()         # the crop protocol: center | 10crop | 144crop ...
    epochs: Optional[int] = None
    global_step: Optional[int] = None
    best_epoch: Optional[int] = None           # the epoch of the best checkpoint
    checkpoint: Optional[str] = None           # the best (or, stopped, the last) checkpoint
    resumed_from: Optional[str] = None         # the checkpoint the run resumed from
    train_time_s: Optional[float] = None       # wall seconds of fit
    skipped_images: Optional[int] = None       # unreadable images skipped
    curves: Optional[dict[str, list[Optional[float]]]] = None  # per-epoch series (epoch, lr, losses, accuracies)
    eval_time_s: Optional[float] = None        # wall seconds of validate (task=eval)
    val_images: Optional[int] = None           # images evaluated (task=eval)


@dataclass
class Ablation:
    """A Rethinking Table 3 row's identity and the paper's figures for it (``conf/ablation``)."""

    row: Optional[str] = None
    network: Optional[str] = None
    paper_top1_err: Optional[float] = None
    paper_top5_err: Optional[float] = None
    paper_bn_ops: Optional[float] = None       # the table's "Cost Bn Ops"
    paper_source: Optional[str] = None


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


AREAS: tuple[type, ...] = (Identity, Liveness, Interruption, Environment, BenchSetup, Timing, Latency, Server,
                           Offline, Cost, Memory, Machine, GpuState, Energy, Loader, Profile, Training, Ablation,
                           ReportSummary)


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
