"""The record's areas of a benchmark job: what was timed, the figures of each scenario, cost, machine state, GPU."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from contracts.record_fields import view


@dataclass
class BenchSetup:
    """What a benchmark job was asked to time (``bench`` options as they ran)."""

    scenario: Optional[str] = view()    # tf_book | single_stream | offline | server
    mode: Optional[str] = view()        # forward | forward_backward
    batch_size: Union[int, Literal["auto"], None] = view()  # "auto" until the offline search picks one
    input_size: Optional[int] = view()  # pixels per side
    precision: Optional[str] = view()   # fp32 | bf16 | fp16
    memory_format: Optional[str] = None  # contiguous | channels_last
    compile: Optional[str] = None        # off or the torch.compile mode
    steps: Optional[int] = None          # timed steps per repeat
    burn_in: Optional[int] = None        # untimed steps first
    repeats: Optional[int] = None        # repeats of the timed steps
    input: Optional[str] = None          # synthetic | loader
    profiled: Optional[bool] = None      # the timed figures are the profiled steps' (bench.profile.enabled=true)


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
    images_per_s: Optional[float] = view()   # throughput (server: queries/s achieved; training: train images/s)
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
    """Energy over the timed windows (``bench.job.energy``: NVML or RAPL; a training run's over its clock's windows,
    summed over ranks); None where unreadable or the window is too short, ``energy_note`` saying why."""

    energy_j: Optional[float] = None
    power_w: Optional[float] = None
    energy_j_per_image: Optional[float] = None
    energy_source: Optional[str] = None        # nvml | rapl: the counter read (kept when a read of it failed)
    energy_note: Optional[str] = None          # why energy_j is null (no counter readable, a failed read ...)


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
class BatchStep:
    """Where and how the input pipeline's batch step ran (uint8 → photometric distortion → normalised float), and
    which decoder read the files, in loader mode and training (``ClassificationDataModule.batch_step``)."""

    batch_step_kernel: Optional[str] = None  # numba | torch | compile: data.augment_kernel as resolved
    batch_step_on: Optional[str] = None      # workers (data.augment_on) | the device it ran on: cpu, cuda
    jpeg_decoder: Optional[str] = None       # region | simplejpeg | pil (data.decoder as resolved) | nvjpeg
                                             # (data.decode=gpu); None: an in-memory set, no files decoded


@dataclass
class Profile:
    """``bench.profile.enabled=true``: time and FLOPs per module (``bench.benchmark.profile``)."""

    profile_overhead: Optional[float] = None   # profiled step time / unprofiled
    profile_depth: Optional[int] = None        # the module level profiled
    modules: Optional[list[dict[str, Any]]] = None  # per module: name, time_s, time_share, gflops, flop_share, ...
    trace_file: Optional[str] = None           # the Chrome / Perfetto trace


@dataclass
class Backend:
    """The record's torch backend switches as they were in force for the job (bench.tf32, bench.cudnn_benchmark)."""

    tf32_conv: Optional[bool] = None  # torch.backends.cudnn.allow_tf32: fp32 convolutions may run on TF32 tensor cores
    tf32_matmul: Optional[bool] = None  # torch.backends.cuda.matmul.allow_tf32: fp32 matmuls may run on TF32
    cudnn_benchmark: Optional[bool] = None  # torch.backends.cudnn.benchmark: cuDNN autotunes each shape
    tf32_ran: Optional[bool] = None  # fp32 math ran as TF32 (fp32 on an Ampere+ GPU with TF32 allowed)


@dataclass
class Compile:
    """The record's compile figures (the first call's time is in every record, compiled or not)."""

    first_call_s: Optional[float] = None  # one untimed, synchronised step before the scenario: compilation if compiled
    compile_s: Optional[float] = None  # = first_call_s for a compiled model (its compilation); None when eager
    compile_graphs: Optional[int] = None  # graphs Dynamo compiled during the job; 0: the model ran eagerly
    compile_graph_breaks: Optional[int] = None  # graph breaks Dynamo met during the job
    compile_break_reasons: Optional[list[str]] = None  # the most frequent break reasons, most frequent first


@dataclass
class StepClocks:
    """The record's account of the clocks of a per-step timing (tf_book)."""

    step_clock: Optional[str] = None  # "cuda_event": step_times_s are CUDA-event times; "wall": the only clock (CPU)
    step_wall_times_s: Optional[list[float]] = None  # the wall clock of each timed step beside the events; None on CPU
    wall_vs_event_median: Optional[float] = None  # median over the steps of wall / event - 1; None with one clock


@dataclass
class GpuSampling:
    """The record's summary of the GPU during the timed work (None: not a GPU, or NVML unreadable)."""

    gpu_samples: Optional[int] = None  # NVML samples taken over the scenario's timing
    gpu_sm_clock_mhz_min: Optional[float] = None
    gpu_sm_clock_mhz_median: Optional[float] = None
    gpu_sm_clock_mhz_max: Optional[float] = None
    gpu_mem_clock_mhz_median: Optional[float] = None
    gpu_temperature_c_max: Optional[float] = None
    gpu_power_w_mean: Optional[float] = None  # mean of the sampled power draw
    gpu_clock_reasons: Optional[list[str]] = None  # every clock-event reason seen in any sample, sorted
    throttled: Optional[bool] = None  # a throttling reason seen, or the SM clock dropped (see the module's docstring)
    throttle_reasons: Optional[list[str]] = None  # why: the throttling reasons seen, and "sm_clock_dropped ..." if so


@dataclass
class GpuNeighbours:
    """The record's view of the GPU's other users at the job's start."""

    gpu_foreign_processes: Optional[list[dict[str, Any]]] = None  # {"pid", "used_memory_mb"} each; None: not knowable


@dataclass
class Repeats:
    """``bench.repeats`` kept per repeat by the latency and offline scenarios (tf_book's are ``Timing.repeat_*``):
    what the compare task resamples, so run-to-run noise counts in its intervals."""

    repeat_queries: Optional[list[int]] = None                     # single_stream: queries of each repeat
    repeat_latency_p99_s: Optional[list[Optional[float]]] = None   # single_stream, server: each repeat's p99
    repeat_block_times_s: Optional[list[list[float]]] = None       # offline: each repeat's block times
    repeat_images_per_s: Optional[list[float]] = None              # offline: each repeat's img/s
    repeat_max_qps_at_slo: Optional[list[Optional[float]]] = None  # server search: each repeat's max QPS at the SLO
