"""The GPU suite's parts of issue 13: the README command, events vs wall clock (from the records), out-of-memory
recovery, the precision matrix, the timm pairs, Lightning vs a bare loop, compiled modes and the zoo table
(see tools/gpu_suite.py; the parts of what landed since are in tools/gpu_serving.py)."""
from __future__ import annotations

import gc
import os
import shutil
import statistics
import subprocess
import sys

import torch

from bench.job.record import read_record
from contracts.status import Status
from tools import gpu_lightning, gpu_timm
from tools.gpu_core import REPO, Suite, job
from tools.gpu_report import GOAL_EVENT_WALL, Row

ZOO = ("googlenet", "bn_inception", "inception_v2", "inception_v3", "inception_v4", "inception_resnet_v1",
       "inception_resnet_v2", "xception")
TIMM_MODELS = ("inception_v3", "inception_v4", "inception_resnet_v2", "xception")
FULL_SPEED = 0.9  # the job after an OOM must reach this share of the same job before it


def part_harness(s: Suite) -> None:
    """The README's default command as a user types it, the TF-book preset, a train step; events vs wall."""
    readme_default(s, s.sizes.readme)
    book = s.bench("harness", "tf_book_inception_v3",
                   s.bench_overrides("experiment=tf_book_inception_v3", *s.sizes.book), 20)
    train = s.bench("harness", "train_step", s.bench_overrides(*s.sizes.train_step), 25)
    for row in (book, train):
        if row is not None and row.status == Status.OK:
            s.add(event_vs_wall(row))


def part_precision(s: Suite) -> None:
    """Inception-v3 forward eager in strict fp32 (bench.tf32=false), TF32, bf16 and fp16 autocast, NCHW and NHWC."""
    for precision in ("fp32", "tf32", "bf16", "fp16"):
        for channels_last in (False, True):
            label = f"{precision}_{'nhwc' if channels_last else 'nchw'}"
            if (precision, channels_last) not in s.sizes.matrix:
                s.skip("precision", label, "--tiny: one row of each kind exercises the matrix")
            elif precision in ("fp32", "tf32"):  # fp32 math, TF32 tensor cores off / on (bench.tf32)
                on = precision == "tf32"
                s.bench("precision", label, job(s, "fp32", channels_last, tf32=on), 12, needs_cuda=on)
            else:
                s.bench("precision", label, job(s, precision, channels_last), 10)


def part_compile(s: Suite, modes: tuple[str, ...] = ("default", "reduce-overhead")) -> None:
    """Inception-v3 forward bf16 NHWC compiled; ``reduce-overhead`` is CUDA graphs."""
    for mode in modes:
        s.bench("compile" if mode != "max-autotune" else "autotune", f"bf16_nhwc_{mode}", job(s, "bf16", True, mode),
                300 if mode == "max-autotune" else 90, needs_cuda=True)


def part_zoo(s: Suite) -> None:
    """Every variant bf16 NHWC compiled (eager on the CPU dry run) at the offline scenario's best batch."""
    compiled = s.device == "cuda"  # compiled modes are GPU-only here
    batch = s.best_batch or s.sizes.batch
    where = f"batch {batch}: " + ("the offline scenario's best" if s.best_batch else "the suite's (no offline row)")
    for name in s.sizes.zoo:
        s.bench("zoo", name, job(s, "bf16", True, "default" if compiled else False, model=name, batch=batch),
                90 if compiled else 10, note=where)
    for name in sorted(set(ZOO) - set(s.sizes.zoo)):
        s.skip("zoo", name, "--tiny: one variant exercises the table")


def readme_default(s: Suite, extra: list[str]) -> None:
    """``python run.py bench.device=<device>``, the README's first command, in a child process as a user runs it."""
    label = "readme_default"
    if not s.fits("harness", label, 40):
        return
    out = s.out / "jobs" / f"harness-{label}"
    command = [sys.executable, str(REPO / "run.py"), f"bench.device={s.device}", *extra, f"hydra.run.dir={out}"]

    def run() -> Row:
        env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}  # the default logger, offline
        s.release_gpu_cache()
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=max(120.0, s.remaining()))
        out.mkdir(parents=True, exist_ok=True)
        (out / "cli.log").write_text(f"$ {' '.join(command)}\n{proc.stdout}\n{proc.stderr}")
        record = read_record(out / "record.json")
        last_line = (proc.stderr.strip().splitlines() or [""])[-1]
        note = "" if proc.returncode == 0 else f"exit {proc.returncode}: {last_line}"
        fields = {**{k: v for k, v in record.items() if k != "config"}, "suite_command": " ".join(command[1:])}
        return Row("harness", label, "bench", str(record["status"]), fields, note)

    s.add_guarded("harness", label, run)


def event_vs_wall(row: Row) -> Row:
    """The job's own two clocks, from its record: CUDA events per step (``step_times_s``) and the wall clock
    beside them (``step_wall_times_s``), and their agreement (``wall_vs_event_median``)."""
    f = row.fields
    events, walls, gap = f.get("step_times_s") or [], f.get("step_wall_times_s"), f.get("wall_vs_event_median")
    fields = {"steps": len(events), "step_clock": f.get("step_clock"), "device_type": f.get("device_type"),
              "event_mean_s": statistics.fmean(events) if walls and events else None,
              "wall_mean_s": statistics.fmean(walls) if walls else (statistics.fmean(events) if events else None),
              "wall_vs_event_median": gap}
    if gap is None:
        note = "cpu: the wall clock is the only clock (no agreement to measure)"
    else:
        note = f"{'agree' if abs(gap) <= GOAL_EVENT_WALL else 'DIFFER'}: wall {gap:+.2%} vs events (median of steps)"
    return Row("harness", f"{row.label}_events_vs_wall", "pair", Status.OK, fields, note)


def _memory_mb(s: Suite) -> tuple[float | None, float | None]:
    """(allocated, reserved by the caching allocator) MiB on the GPU; (None, None) on CPU."""
    if s.device != "cuda":
        return None, None
    return torch.cuda.memory_allocated(s.torch_device) / 2**20, torch.cuda.memory_reserved(s.torch_device) / 2**20


def part_oom(s: Suite) -> None:
    """A job, a train step at a batch that cannot fit (status ``oom``), then the first job again: same speed?"""
    reference = job(s, "bf16", True)
    before = s.bench("oom", "before", reference, 10, fresh=True)
    allocated_before, _ = _memory_mb(s)
    too_big = s.bench("oom", "too_big", job(s, "fp32", False, batch=s.sizes.oom_batch, mode="forward_backward"),
                      15, fresh=True)
    allocated_after, reserved_after = _memory_mb(s)
    after = s.bench("oom", "after", reference, 10, fresh=True)
    if before is None or too_big is None or after is None:
        return
    speed = (after.fields.get("images_per_s") or 0) / (before.fields.get("images_per_s") or float("inf"))
    recorded = too_big.status == Status.OOM and too_big.fields.get("batch_size") == s.sizes.oom_batch
    # a 2-step CPU dry run is too noisy to judge speed by; on the GPU a slower next job means memory was kept
    fast = speed >= FULL_SPEED or s.device != "cuda"
    note = (f"{'oom recorded with its batch' if recorded else 'NO oom record'}; next job at {speed:.2f}x the speed "
            f"before{'' if s.device == 'cuda' else ' (not judged on cpu)'}{'' if fast else ': SLOWER'}")
    s.add(Row("oom", "recovery", "oom", Status.OK if recorded and fast else Status.ERROR, {
        "oom_status": too_big.status, "oom_batch": too_big.fields.get("batch_size"),
        "before_images_per_s": before.fields.get("images_per_s"),
        "after_images_per_s": after.fields.get("images_per_s"),
        "after_over_before": speed, "allocated_mb_before": allocated_before, "allocated_mb_after": allocated_after,
        "reserved_mb_after": reserved_after,
    }, note))


def timm_pair(s: Suite, model: str, bench: str, compile_mode: str | bool = False) -> None:
    """Our job and timm's benchmark at the same model, batch, precision (bf16 autocast), layout and compile."""
    label = f"{model}_{bench}{'_compiled' if compile_mode else ''}"
    part = "timm_compiled" if compile_mode else "timm"
    if s.timm_script is None or not s.timm_script.is_file():
        where = s.timm_script or "no .device-wheels/ or shared/peers/ copy"
        s.skip(part, label, f"timm's benchmark.py not found ({where}); give --timm-script")
        return
    mode = "forward" if bench == "inference" else "forward_backward"
    overrides = job(s, "bf16", True, compile_mode, model=model, size=s.sizes.timm_size, mode=mode)
    if bench == "train":  # timm's Inception-v3 has no aux head
        overrides.append("model.aux_logits=false")
    ours = s.bench(part, f"ours_{label}", overrides, 90 if compile_mode else 12, needs_cuda=bool(compile_mode))
    if not s.fits(part, f"timm_{label}", 120 if compile_mode else 30, needs_cuda=bool(compile_mode)):
        return
    z = s.sizes
    img = (ours.fields.get("input_size") if ours else None) or _default_size(model)
    args = gpu_timm.timm_args(model, bench, z.batch, img, "bf16", True, compile_mode, z.burn_in, z.steps, s.device)

    def run() -> Row:
        log = s.out / "jobs" / f"timm-{label}.log"
        s.release_gpu_cache()  # after the oom part our cache can hold most of the card
        result = gpu_timm.run_timm(s.timm_script, args, max(120.0, s.remaining()), log)
        theirs = gpu_timm.images_per_s(result, bench)
        mine = ours.fields.get("images_per_s") if ours and ours.status == Status.OK else None
        compiled = f"compile={compile_mode}" if compile_mode else "eager"
        settings = f"b{z.batch} {img}px bf16-autocast NHWC {compiled}"
        note = "" if bench == "inference" else "timm: SGD-nesterov, no dropout; ours: SGD momentum, dropout"
        return Row(part, label, "timm", Status.OK, {
            "bench": bench, "settings": settings, "ours_images_per_s": mine, "timm_images_per_s": theirs,
            "ours_over_timm": mine / theirs if mine else None,
            "ours_utilization": ours.fields.get("utilization") if ours else None,
            "device_type": ours.fields.get("device_type") if ours else None,
            **{f"timm_{k}": v for k, v in result.items()}}, note)

    s.add_guarded(part, f"timm_{label}", run)


def _default_size(model: str) -> int:
    from lightning_modules.zoo import get_model_info

    return get_model_info(model).default_input_size


def part_timm(s: Suite) -> None:
    for model in TIMM_MODELS:
        if model in s.sizes.timm_models:
            timm_pair(s, model, "inference")
        else:
            s.skip("timm", f"{model}_inference", "--tiny: one pair exercises the path")
    if not s.sizes.tiny:
        timm_pair(s, "inception_v3", "train")
    else:
        s.skip("timm", "inception_v3_train", "--tiny: the inference pair exercises the path")


def part_timm_compiled(s: Suite) -> None:
    timm_pair(s, "inception_v3", "inference", "default")


def part_lightning(s: Suite) -> None:
    """task=train on the configured trainer (bf16-mixed on the GPU), then the bare loop on the same config."""
    from run import run_task

    label = "train_epoch"
    if not s.fits("lightning", label, 120):
        return

    def run() -> Row:
        cfg = s.compose([*s.sizes.train, "logger=none"])
        # a short bare epoch first, so neither timed side pays the process's first use of these shapes
        batch_size = int(cfg.data.batch_size)
        gpu_lightning.bare_epoch(s.compose([*s.sizes.train, "logger=none", f"data.train_size={5 * batch_size}"]),
                                 s.torch_device)
        out = s.out / "jobs" / "lightning-trainer"
        record = run_task(cfg, out)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)  # hundreds of MB the summary does not need
        if record["status"] != Status.OK:
            return Row("lightning", label, "lightning", record["status"], {"error": record["error"]}, record["error"])
        gc.collect()  # Lightning's trainer holds reference cycles: free its memory before the bare side
        fields = gpu_lightning.compare(record, gpu_lightning.bare_epoch(cfg, s.torch_device))
        fields.update(model=cfg.model.name, batch_size=batch_size, precision=str(cfg.trainer.precision),
                      device_type=s.torch_device.type)
        note = "DATA-BOUND: the loader sets the pace, the ratio says little" if fields["data_bound"] else ""
        return Row("lightning", label, "lightning", Status.OK, fields, note)

    s.add_guarded("lightning", label, run)
