"""timm's ``benchmark.py`` as a measuring instrument beside ours: same settings, its own process, its JSON parsed.

The script is a peer's (Apache-2.0), never part of this project: the suite runs it from where it lies
(``--timm-script``, by default a carried copy in ``.device-wheels/`` or ``shared/peers/`` above the checkout).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCRIPT_NAME = "timm_benchmark.py"
# our registry name -> timm's (timm's plain "xception" is the same network, renamed legacy_xception)
TIMM_NAMES = {"inception_v3": "inception_v3", "inception_v4": "inception_v4",
              "inception_resnet_v2": "inception_resnet_v2", "xception": "legacy_xception"}
AMP_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
MIN_ITERS = 5  # timm logs every iters // 5 steps: fewer than 5 divide by zero


class TimmError(RuntimeError):
    """timm's benchmark ran but gave no result (its own error line, or no output to parse)."""


def find_script(explicit: str | None = None) -> Path | None:
    """The given path, else a carried copy in .device-wheels/, else ``shared/peers/`` in a folder above."""
    if explicit:
        return Path(explicit)
    candidates = [REPO / ".device-wheels" / SCRIPT_NAME, *(p / "shared" / "peers" / SCRIPT_NAME for p in REPO.parents)]
    return next((p for p in candidates if p.is_file()), None)


def timm_args(model: str, bench: str, batch_size: int, img_size: int, precision: str, channels_last: bool,
              compile_mode: str | bool, warm: int, iters: int, device: str) -> list[str]:
    """Command-line arguments of timm's benchmark for one of our settings (``bench``: inference | train)."""
    args = ["--model", TIMM_NAMES[model], "--bench", bench, "-b", str(batch_size), "--img-size", str(img_size),
            "--num-warm-iter", str(warm), "--num-bench-iter", str(max(iters, MIN_ITERS)), "--device", device,
            "--no-retry"]  # an OOM is an error, never a silently smaller batch
    if precision in AMP_DTYPES:
        args += ["--amp", "--amp-dtype", AMP_DTYPES[precision]]
    if channels_last:
        args.append("--channels-last")
    if compile_mode:
        args += ["--torchcompile", "inductor"]
        if compile_mode != "default":
            args += ["--torchcompile-mode", str(compile_mode)]
    return args


def parse_result(output: str) -> dict[str, Any]:
    """The JSON timm prints after its ``--result`` line; TimmError if it has none or reports an error."""
    marker = "--result\n"
    if marker not in output:
        tail = output.strip().splitlines()[-1:] or ["no output"]
        raise TimmError(f"timm benchmark printed no result: {tail[0]}")
    result = json.loads(output.rsplit(marker, 1)[1])
    if "error" in result:
        raise TimmError(f"timm benchmark failed: {str(result['error']).splitlines()[0]}")
    return result


def run_timm(script: Path, args: list[str], timeout_s: float, log: Path) -> dict[str, Any]:
    """Run timm's benchmark in a child process; its output goes to ``log``; returns the parsed result."""
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=timeout_s, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {script} {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    result = parse_result(proc.stdout)
    result["timm_args"] = " ".join(args)
    return result


def images_per_s(result: dict[str, Any], bench: str) -> float:
    return float(result["infer_samples_per_sec" if bench == "inference" else "train_samples_per_sec"])
