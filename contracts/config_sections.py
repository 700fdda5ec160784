"""The schemas of the training and report sections: ``data`` (one per kind of dataset), ``optim``, ``classifier``,
``train``, ``report``.

Registered with the bench schema by ``contracts.config``; the same rules hold (types here, ranges in ``check``).
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from contracts.errors import ConfigError, check_count, check_number, check_positive


# ----------------------------------------------------------------------------------------------- data
@dataclass
class DataConfig:
    """``data``: what every DataModule takes (``lightning_modules.data.ClassificationDataModule``); the choices
    of ``eval_mode``, ``on_bad_image`` and ``decode`` are checked by the DataModule, which owns them."""

    _target_: str = MISSING
    name: str = MISSING
    num_classes: int = MISSING
    batch_size: int = 32
    num_workers: int = 0
    input_size: Any = "default"  # an int, default or min: the model's info.default_input_size / min_input_size
    eval_mode: str = "center"    # center | 10crop | 144crop (GoogLeNet's protocol, Going Deeper Sec.7)
    on_bad_image: str = "skip"   # skip (counted in the record) | fail (stops, naming the file)
    # scale, ratio, hflip, random_interpolation (the workers' crops), photometric (on the device, per image)
    augment: Dict[str, Any] = field(default_factory=dict)
    decode: str = "cpu"          # cpu (the decoder in the workers) | gpu (decode_jpeg on CUDA, batched; JPEG folders)
    decoder: str = "auto"        # auto (region if built, else simplejpeg, else pil) | pil | simplejpeg | region
    pin_memory: bool = True      # pinned uint8 batches when CUDA is there (asynchronous host-to-device copies)
    prefetch_factor: int = 2     # batches each worker keeps ready (num_workers >= 1)
    persistent_workers: bool = True  # keep the workers between epochs (num_workers >= 1)
    augment_kernel: str = "auto"  # auto (numba if installed, else torch) | numba | torch | compile: the batch step's code
    augment_on: str = "auto"      # auto (the workers when training on a CPU) | device | workers: where the batch step runs
    timeout_s: float = 600.0      # the longest wait for a worker's batch before the job fails (a stuck worker); 0: forever

    def __post_init__(self) -> None:
        self.check("data")

    def check(self, key: str) -> None:
        for option in ("num_classes", "batch_size"):
            check_positive(f"{key}.{option}", getattr(self, option))
        check_count(f"{key}.num_workers", self.num_workers)
        check_positive(f"{key}.prefetch_factor", self.prefetch_factor)
        check_number(f"{key}.timeout_s", self.timeout_s, 0, inclusive=True)
        if self.input_size not in ("default", "min"):
            if not isinstance(self.input_size, int) or isinstance(self.input_size, bool) or self.input_size <= 0:
                raise ConfigError(f"{key}.input_size must be a positive integer, default or min, got {self.input_size!r}")


@dataclass
class SyntheticDataConfig(DataConfig):
    """``data=synthetic``: random images and labels made in memory."""

    train_size: int = 256
    val_size: int = 64
    image_size: int = 64

    def check(self, key: str) -> None:
        super().check(key)
        for option in ("train_size", "val_size", "image_size"):
            check_positive(f"{key}.{option}", getattr(self, option))


@dataclass
class SplitDataConfig(DataConfig):
    """``data=mnist|digits``: a set in a pip wheel, split into train and val."""

    val_fraction: float = 0.2
    split_seed: int = 0

    def check(self, key: str) -> None:
        super().check(key)
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"{key}.val_fraction must be a number in (0, 1), got {self.val_fraction!r}")


@dataclass
class FolderDataConfig(DataConfig):
    """``data=imagefolder|imagenet``: ``<root>/<train_dir>/<class>/*.jpg`` and ``<root>/<val_dir>/<class>/*.jpg``."""

    root: str = MISSING
    train_dir: str = "train"
    val_dir: str = "val"


# ---------------------------------------------------------------------------------------------- optim
@dataclass
class ScheduleConfig:
    """``optim.schedule``: the per-step lr factor, a linear warm-up, then x gamma every decay_epochs (staircase)."""

    warmup_epochs: float = 0.0  # > 0 for large global batches
    decay_epochs: float = 8.0   # 0: no decay
    gamma: float = 0.96

    def check(self, key: str) -> None:
        check_number(f"{key}.warmup_epochs", self.warmup_epochs, 0, inclusive=True)
        check_number(f"{key}.decay_epochs", self.decay_epochs, 0, inclusive=True)
        check_number(f"{key}.gamma", self.gamma, 0, inclusive=False)


@dataclass
class OptimConfig:
    """``optim``: the optimiser (instantiated: its keyword arguments are the optimiser's own), its schedule."""

    name: str = MISSING
    optimizer: Dict[str, Any] = field(default_factory=dict)  # _target_ (a torch.optim class) and its arguments
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    lr_ref_batch: Optional[int] = None  # e.g. 256: lr x global_batch / 256 (linear scaling rule); null: lr as given
    gradient_clip_val: Optional[float] = None

    def __post_init__(self) -> None:
        self.check("optim")

    def check(self, key: str) -> None:
        if "_target_" not in self.optimizer or "lr" not in self.optimizer:
            raise ConfigError(f"{key}.optimizer needs _target_ (a torch.optim class) and lr")
        check_number(f"{key}.optimizer.lr", self.optimizer["lr"], 0, inclusive=False)
        self.schedule.check(f"{key}.schedule")
        if self.lr_ref_batch is not None:
            check_positive(f"{key}.lr_ref_batch", self.lr_ref_batch)
        if self.gradient_clip_val is not None:
            check_number(f"{key}.gradient_clip_val", self.gradient_clip_val, 0, inclusive=False)


# ----------------------------------------------------------------------------------- classifier, train
@dataclass
class ClassifierConfig:
    """``classifier``: the options of ``lightning_modules.classifier.ClassifierModule`` (the training job's
    callbacks are the ``callbacks`` group)."""

    label_smoothing: float = 0.0            # epsilon of Rethinking Sec.7 (0.1 there)
    aux_loss_weight: Optional[float] = None  # null: the model's info.aux_loss_weight (0.3 GoogLeNet, 0.4 v3)
    channels_last: bool = False             # NHWC net and inputs, as bench.channels_last

    def __post_init__(self) -> None:
        self.check("classifier")

    def check(self, key: str) -> None:
        smoothing = self.label_smoothing
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
            raise ConfigError(f"{key}.label_smoothing must be a number in [0, 1) (Rethinking Sec.7 uses 0.1), "
                              f"got {smoothing!r}")
        if self.aux_loss_weight is not None:
            check_number(f"{key}.aux_loss_weight", self.aux_loss_weight, 0, inclusive=True)


@dataclass
class TrainConfig:
    """``train``: ``task=train``'s time to accuracy (MLPerf Training's measure); ``experiment=time_to_accuracy``
    runs ``seeds`` seeds of it. What also needs the trainer (a target without validation) is checked by the task."""

    target_top1: Optional[float] = None  # val top-1 (%) in [0, 100] to stop at and time; null: no target
    stop_at_target: bool = True          # false: time the target but train on to trainer.max_epochs
    seeds: int = 5                       # runs per (model, recipe, device), seed=0..seeds-1; MLPerf asks for 5
    recipe: str = "${optim.name}"        # what the report groups runs by (model, recipe, device)
    reference_epochs: Optional[float] = None  # the recipe's reference epochs to target: the report's t-test

    def __post_init__(self) -> None:
        self.check("train")

    def check(self, key: str) -> None:
        target = self.target_top1
        if target is not None and not 0 <= target <= 100:
            raise ConfigError(f"{key}.target_top1 must be a top-1 accuracy in % between 0 and 100 (or null), "
                              f"got {target!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"{key}.seeds must be a whole number of runs >= 1 (MLPerf asks for 5), got {self.seeds!r}")
        if self.reference_epochs is not None and self.reference_epochs <= 0:
            raise ConfigError(f"{key}.reference_epochs must be a positive number of epochs (or null), "
                              f"got {self.reference_epochs!r}")


# --------------------------------------------------------------------------------------------- report
@dataclass
class ReportConfig:
    """``report``: ``task=report`` gathers every record under ``dirs`` (several hosts' results dirs merge)."""

    dirs: List[str] = field(default_factory=lambda: ["${paths.results_dir}"])
    out_dir: Optional[str] = None  # null: the report job's own output dir
    after_sweep: bool = True       # a multirun also writes its report into <sweep dir>/report when it ends
    # time to a target validation top-1 (%), MLPerf Training's measure, per dataset name (the record's `data`)
    target_top1: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check("report")

    def check(self, key: str) -> None:
        if not self.dirs:
            raise ConfigError(f"{key}.dirs is empty: give the results dirs to gather, e.g. {key}.dirs=[results]")
        for name, target in self.target_top1.items():
            if not 0 < target <= 100:
                raise ConfigError(f"{key}.target_top1.{name} must be a top-1 in (0, 100] %, got {target!r}")
