#!/usr/bin/env bash
# Build .device-wheels/: what the lent GPU machine (no registry access) needs to run the harness, carried with the call.
#
# The device image has torch, lightning, torchmetrics, timm, pandas, nvidia-ml-py and more (DEVICE_HAS below, from
# the device README's KINDS.md), but not the rest of pyproject.toml's dependencies (hydra-core, omegaconf, wandb,
# plotly, mlxtend, the Hydra launchers) nor antlr4. This
# downloads those as wheels for the device's Python (3.12, x86-64 manylinux) with their dependencies, drops what
# the image already has, builds antlr4-python3-runtime 4.9.3 here (the registry has no wheel of it) and copies timm's
# benchmark.py beside them (a peer's measuring instrument: carried, never committed; the folder is git-ignored).
# Versions are the ones installed in the interpreter that runs the tests here ($PYTHON, default python3).
#
#   bash tools/device_wheels.sh [OUT]        # OUT defaults to .device-wheels; prints sizes against the 64 MiB limit
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.device-wheels}
python=${PYTHON:-python3}
# the project's runtime dependencies (pyproject.toml) the device lacks are carried, except these (the suite uses none)
NOT_CARRIED="hydra-optuna-sweeper"
# Python packages of the device image (KINDS.md, read 2026-11-17), normalised names: these are not carried.
DEVICE_HAS="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers
flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py
markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"

pins=$("$python" - "$DEVICE_HAS $NOT_CARRIED" <<'PY'
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
skip = set(sys.argv[1].split())
deps = tomllib.loads(open("pyproject.toml").read())["project"]["dependencies"]
required = [re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps]
names = [n for n in required if n not in skip]
try:
    print(" ".join(f"{n}=={version(n)}" for n in names + ["antlr4-python3-runtime"]))
except PackageNotFoundError as exc:
    sys.exit(f"device_wheels: {exc.name} is not installed in {sys.executable}; install the project first (pip install -e .)")
PY
)
echo "carrying: $pins"
rm -rf "$out" && mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
antlr=$(tr ' ' '\n' <<<"$pins" | grep '^antlr4-python3-runtime==')
"$python" -m pip wheel -q --no-deps -w "$tmp/built" "$antlr"   # sdist only on the registry: build it here
"$python" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --find-links "$tmp/built" -d "$tmp/all" $(tr ' ' '\n' <<<"$pins" | grep -v '^antlr4')
cp "$tmp"/built/*.whl "$tmp/all/"
has=" $(tr '\n' ' ' <<<"$DEVICE_HAS") "
for wheel in "$tmp"/all/*.whl; do
    name=$(basename "$wheel" | cut -d- -f1 | tr '[:upper:]_.' '[:lower:]--')
    if [[ "$has" == *" $name "* ]]; then echo "  on the device already: $name"; else cp "$wheel" "$out/"; fi
done
script=""
for dir in . .. ../.. ../../..; do
    [[ -f "$dir/shared/peers/timm_benchmark.py" ]] && { script="$dir/shared/peers/timm_benchmark.py"; break; }
done
if [[ -n "$script" ]]; then cp "$script" "$out/timm_benchmark.py"; else echo "warning: no shared/peers/timm_benchmark.py found above $(pwd): the timm pairs will be skipped"; fi
ls -1 "$out"
tree_kib=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
carry_kib=$(du -sk "$out" | cut -f1)
echo "working tree ${tree_kib} KiB + $out ${carry_kib} KiB = $(( (tree_kib + carry_kib) / 1024 )) MiB of the 64 MiB a call may carry"
(( tree_kib + carry_kib < 64 * 1024 )) || { echo "device_wheels: over 64 MiB" >&2; exit 1; }
