"""The config schema: typed sections of the composed config, registered in Hydra's ConfigStore.

Each preset in ``conf/<group>/`` names its section's schema first in its ``defaults:`` (``bench/schema``,
``data/schema_synthetic``, ...), so Hydra composes every preset on top of a typed node: an unknown key, a
value of the wrong type or an enum value that is not a choice fails at composition, naming the key.
Ranges and combinations of options are checked here too, in one place: each schema's ``check`` (run by
``__post_init__``, i.e. by ``OmegaConf.to_object``; ``validate(cfg)`` runs them all). What needs the
model or the device (an input size against the model's minimum, CUDA being there) is checked where those
are known.

How to add an option: add a field, with its type, default and a comment, to the dataclass of its section
(a scenario's option to that scenario's section), its range check to that class's ``check``, and its
line to the README's option table. YAML presets only set values; they never declare keys.

This module is loaded before composition (``run.py`` imports it to register the schemas): it imports
nothing of the project but ``contracts`` and never torch.
"""
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from contracts.config_sections import (ClassifierConfig, FolderDataConfig, OptimConfig, ReportConfig, SplitDataConfig,
                                       SyntheticDataConfig, TrainConfig)
from contracts.errors import ConfigError, check_choice, check_count, check_number, check_positive


class Choice(str, Enum):
    """A str enum whose members are named as their values: OmegaConf matches a value to a member by name,
    and records, f-strings and JSON keep the plain text (``"forward"``)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Scenario(Choice):
    tf_book = "tf_book"              # the TensorFlow book's protocol: a fixed batch, every step synchronised
    single_stream = "single_stream"  # batch 1, one query after another (MLPerf's SingleStream)
    offline = "offline"              # steps back to back, one synchronisation per block (MLPerf's Offline)
    server = "server"                # Poisson arrivals, a dynamic batcher, a p99 SLO (MLPerf's Server)


class Mode(Choice):
    forward = "forward"                    # eval, inference mode
    forward_backward = "forward_backward"  # a training step with SGD


class Precision(Choice):
    fp32 = "fp32"
    bf16 = "bf16"  # autocast
    fp16 = "fp16"  # autocast


class Input(Choice):
    synthetic = "synthetic"  # random tensors
    loader = "loader"        # also time the configured data= loader and end to end (the data-bound check)


COMPILE_MODES = (False, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
LATENCY_SCENARIOS = (Scenario.single_stream, Scenario.server)


# ---------------------------------------------------------------------------------------------- bench
@dataclass
class SingleStreamConfig:
    """``bench.single_stream``: how long the latency run lasts (both bounds must be reached)."""

    min_queries: int = 500
    min_duration_s: float = 10.0

    def check(self, key: str) -> None:
        check_positive(f"{key}.min_queries", self.min_queries)
        check_number(f"{key}.min_duration_s", self.min_duration_s, 0, inclusive=True)


@dataclass
class ServerConfig(SingleStreamConfig):
    """``bench.server``: Poisson arrivals (seeded by ``seed``), a dynamic batcher, a p99 SLO; every probe also
    runs >= 459 queries, what its p99 needs."""

    target_qps: float = 10.0       # offered queries per second of a single run (search_qps=false)
    max_batch: int = 8             # the batcher's largest batch
    max_wait_ms: float = 5.0       # the longest the oldest waiting query is held for a fuller batch
    slo_ms: float = 100.0          # p99 latency budget
    search_qps: bool = False       # true: bisect the offered QPS for the highest whose p99 meets slo_ms
    qps_min: Optional[float] = None  # search range; null: qps_max / 4, halved up to 3 times while it misses
    qps_max: Optional[float] = None  # null: what the worker clears at full batches of max_batch
    search_steps: int = 4          # bisections after the range's two ends

    def check(self, key: str) -> None:
        super().check(key)
        check_number(f"{key}.target_qps", self.target_qps, 0, inclusive=False)
        check_number(f"{key}.slo_ms", self.slo_ms, 0, inclusive=False)
        check_positive(f"{key}.max_batch", self.max_batch)
        check_number(f"{key}.max_wait_ms", self.max_wait_ms, 0, inclusive=True)
        check_positive(f"{key}.search_steps", self.search_steps)
        for option in ("qps_min", "qps_max"):
            if getattr(self, option) is not None:
                check_number(f"{key}.{option}", getattr(self, option), 0, inclusive=False)
        if self.qps_min is not None and self.qps_max is not None and self.qps_min >= self.qps_max:
            raise ConfigError(f"{key}.qps_min ({self.qps_min:g}) must be below {key}.qps_max ({self.qps_max:g})")


@dataclass
class OfflineConfig:
    """``bench.offline``: steps back to back in blocks; the batch search of ``bench.batch_size=auto``."""

    blocks: int = 5
    block_steps: int = 10
    max_memory_gb: Optional[float] = None  # peak memory a batch may take (auto, and a given batch when set);
    #                                        null: 40% of free RAM (CPU), the device's memory (GPU)
    max_batch_size: int = 512              # batch_size=auto searches up to here

    def check(self, key: str) -> None:
        for option in ("blocks", "block_steps", "max_batch_size"):
            check_positive(f"{key}.{option}", getattr(self, option))
        if self.max_memory_gb is not None:
            check_number(f"{key}.max_memory_gb", self.max_memory_gb, 0, inclusive=False)


@dataclass
class LoaderConfig:
    """``bench.loader``: the data-loader phase of ``bench.input=loader``."""

    read_latency_ms: float = 0.0  # a wait added to every image read, to see what slower storage would do

    def check(self, key: str) -> None:
        check_number(f"{key}.read_latency_ms", self.read_latency_ms, 0, inclusive=True)


@dataclass
class ProfileConfig:
    """``bench.profile``: torch.profiler over the timed steps; time and FLOPs per module, a trace beside the record."""

    enabled: bool = False
    depth: int = 1  # 1: the stages (Mixed_5b, ...); 2: the branches inside them; deeper: down to single layers

    def check(self, key: str) -> None:
        check_positive(f"{key}.depth", self.depth)


@dataclass
class BenchConfig:
    """``bench``: the options every scenario shares at the top, each scenario's own in its section.

    The defaults are the TensorFlow book's protocol (``bench=tf_book``): batch 32, 10 burn-in, 100 timed steps.
    """

    scenario: Scenario = Scenario.tf_book
    mode: Mode = Mode.forward
    # An int, or "auto" (offline: the best batch up to the largest that fits). Typed Any because OmegaConf 2.3
    # has no Union[int, str]; check() holds it to those two forms.
    batch_size: Any = 32
    input_size: Optional[int] = None  # null: the model's own default (224 GoogLeNet, 299 Inception-v3, ...)
    steps: int = 100
    burn_in: int = 10                 # untimed steps (queries) before timing, in every scenario
    repeats: int = 1                  # repeat the whole measurement; the spread across repeats is reported
    precision: Precision = Precision.fp32
    channels_last: bool = True        # NHWC, the layout TensorFlow (and so the book) uses
    # false or a torch.compile mode (COMPILE_MODES); Any for the same reason as batch_size
    compile: Any = False
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    threads: Optional[int] = None     # CPU threads (torch.set_num_threads); null: torch's default
    log_every: int = 10               # print a step line every N timed steps; 0: none
    input: Input = Input.synthetic
    # GPU: TF32 tensor cores for fp32 convolutions and matmuls (torch's default: convs on, matmuls off; timm's
    # benchmark.py: both on); false: strict fp32. Recorded (tf32_conv, tf32_matmul, tf32_ran).
    tf32: bool = True
    cudnn_benchmark: bool = True      # GPU: cuDNN times its algorithms per input shape once, keeps the fastest (as timm)
    single_stream: SingleStreamConfig = field(default_factory=SingleStreamConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)

    def __post_init__(self) -> None:
        self.check("bench")

    def check(self, key: str) -> None:
        """Every range and every combination of options; raises ``ConfigError`` naming the key and what is valid."""
        self._check_common(key)
        for section in ("single_stream", "server", "offline", "loader", "profile"):
            getattr(self, section).check(f"{key}.{section}")
        self._check_combinations(key)

    def _check_common(self, key: str) -> None:
        if self.batch_size != "auto":
            if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size <= 0:
                raise ConfigError(f"{key}.batch_size must be a positive integer or auto, got {self.batch_size!r}")
        for option in ("steps", "repeats"):
            check_positive(f"{key}.{option}", getattr(self, option))
        check_count(f"{key}.burn_in", self.burn_in)
        check_count(f"{key}.log_every", self.log_every)
        for option in ("input_size", "threads"):
            if getattr(self, option) is not None:
                check_positive(f"{key}.{option}", getattr(self, option))
        check_choice(f"{key}.compile", self.compile, COMPILE_MODES)

    def _check_combinations(self, key: str) -> None:
        scenario = self.scenario
        if self.batch_size == "auto" and scenario != Scenario.offline:
            raise ConfigError(f"{key}.batch_size=auto searches the best batch of the offline scenario only, "
                              f"not {scenario}; give a batch size or use {key}.scenario=offline")
        if scenario in LATENCY_SCENARIOS and self.mode != Mode.forward:
            raise ConfigError(f"{key}.scenario={scenario} times inference: {key}.mode must be forward, got {self.mode}")
        if scenario == Scenario.single_stream and self.batch_size != 1:
            raise ConfigError(f"{key}.scenario=single_stream serves one query at a time: {key}.batch_size must be 1, "
                              f"got {self.batch_size} (bench=single_stream sets it)")
        if self.input == Input.loader:
            if scenario != Scenario.tf_book:
                raise ConfigError(f"{key}.input=loader times fixed batches ({key}.scenario=tf_book), not {scenario}")
            if self.profile.enabled:
                raise ConfigError(f"{key}.profile.enabled=true profiles the model on synthetic input; it does not "
                                  f"combine with {key}.input=loader")
        elif self.loader.read_latency_ms:
            raise ConfigError(f"{key}.loader.read_latency_ms applies to the data loader: add {key}.input=loader")
        if self.profile.enabled and self.compile:
            raise ConfigError(f"{key}.profile.enabled=true needs {key}.compile=false: a compiled graph has no "
                              "module boundaries")
        if self.profile.enabled and scenario != Scenario.tf_book:
            raise ConfigError(f"{key}.profile.enabled=true profiles fixed batches ({key}.scenario=tf_book), "
                              f"not {scenario}")


# ------------------------------------------------------------------------------------- store, validate
# (group, name) -> schema; a preset names its schema first in its defaults list
SCHEMAS: dict[tuple[str, str], type] = {
    ("bench", "schema"): BenchConfig,
    ("data", "schema_synthetic"): SyntheticDataConfig,
    ("data", "schema_split"): SplitDataConfig,
    ("data", "schema_folder"): FolderDataConfig,
    ("optim", "schema"): OptimConfig,
    ("classifier", "schema"): ClassifierConfig,
    ("train", "schema"): TrainConfig,
    ("report", "schema"): ReportConfig,
}
SECTIONS = tuple(dict.fromkeys(group for group, _ in SCHEMAS))


def seed_range(seeds: Any) -> str:
    """``${seed_range:${train.seeds}}``: the sweep's seeds 0..seeds-1 in Hydra's sweep syntax (``range(0,5)``).

    A bad count still sweeps one job, whose ``train`` check refuses it in one line (and a record): an error
    raised here, while Hydra builds its sweeper, would reach the user as a traceback wall.
    """
    valid = isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1
    return f"range(0,{seeds if valid else 1})"


def register() -> None:
    """Store every schema in Hydra's ConfigStore and the presets' resolvers in OmegaConf (idempotent): done on
    import, before any composition (``experiment=time_to_accuracy`` sweeps ``seed=${seed_range:...}``)."""
    store = ConfigStore.instance()
    for (group, name), schema in SCHEMAS.items():
        store.store(group=group, name=name, node=schema)
    if not OmegaConf.has_resolver("seed_range"):
        OmegaConf.register_new_resolver("seed_range", seed_range)


register()


def schema_keys(schema: type) -> list[str]:
    """The keys a schema declares, in its order."""
    return [f.name for f in fields(schema)]


def check_known_keys(node: DictConfig, key: str) -> None:
    """Refuse a key the node's schema does not declare: Hydra's ``+key=value`` adds one even to a typed node."""
    schema = OmegaConf.get_type(node)
    known = schema_keys(schema)
    for name in node.keys():
        if name not in known:
            raise ConfigError(f"unknown key {key}.{name}; valid keys of {key}: {', '.join(known)}")
        if OmegaConf.is_missing(node, name) or OmegaConf.is_interpolation(node, name):
            continue
        child = node[name]
        if isinstance(child, DictConfig) and is_dataclass(OmegaConf.get_type(child)):
            check_known_keys(child, f"{key}.{name}")


def validate(cfg: DictConfig) -> None:
    """Run the checks of every section that carries a schema (composed configs do; a copy loaded from YAML, such
    as an isolated child's, was validated before it was written). Raises ``ConfigError``, one line."""
    for section in SECTIONS:
        node = cfg.get(section)
        if isinstance(node, DictConfig) and is_dataclass(OmegaConf.get_type(node)):
            check_known_keys(node, section)
            OmegaConf.to_object(node)  # builds the dataclass: __post_init__ runs its check()
