#!/usr/bin/env bash
# Set up mmtnt on a fresh machine (Python 3.11; CPU or CUDA). Idempotent: a second run only checks.
# Every version comes from tools/constraints.txt.
#
# Where torch sees a GPU, or with FORCE_CUDA=1, mmcv is built with its CUDA ops, by the CUDA
# compiler of torch's CUDA version: the toolkit at CUDA_HOME / on PATH when it is that version,
# else CUDA's compiler from the package registry (tools/cuda_toolchain.py), for the visible GPUs'
# architectures (TORCH_CUDA_ARCH_LIST overrides). MMTNT_CUDA_TOOLCHAIN=registry takes the
# registry's compiler whatever is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
PIP="$PY -m pip install --quiet --disable-pip-version-check -c tools/constraints.txt"

step() { echo "[mmtnt setup] $*"; }

step "torch + torchvision"
$PIP torch torchvision

step "build tools for mmcv (setuptools<70 is required by its setup.py)"
$PIP setuptools wheel ninja

if [ "${FORCE_CUDA:-0}" = 1 ] ||
   $PY -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  CUDA_OPS=1
else
  CUDA_OPS=0
fi

# mmcv 2.1.0 with compiled ops (for a CUDA build: with CUDA ops that run on the visible GPU)?
if CUDA_OPS=$CUDA_OPS $PY - <<'PYCHECK' 2>/dev/null; then
import os, sys
import mmcv, torch
from mmcv.ops import get_compiling_cuda_version, nms  # noqa: F401  compiled ops present
if mmcv.__version__ != '2.1.0':
    sys.exit(1)
if os.environ['CUDA_OPS'] == '1':
    if get_compiling_cuda_version() in ('not available', ''):
        sys.exit(1)
    if torch.cuda.is_available():  # built for this GPU's architecture?
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]], device='cuda')
        nms(boxes, torch.tensor([0.9, 0.8], device='cuda'), 0.5)
PYCHECK
  step "mmcv 2.1.0 with compiled ops$([ $CUDA_OPS = 1 ] && echo ' (CUDA)') already installed"
else
  if [ $CUDA_OPS = 1 ]; then
    step "CUDA compiler of torch's CUDA version (tools/cuda_toolchain.py)"
    TOOLCHAIN=$($PY tools/cuda_toolchain.py ensure)  # stops here, with what to do, if none fits
    eval "$TOOLCHAIN"
    step "mmcv 2.1.0 with CPU and CUDA ops for $TORCH_CUDA_ARCH_LIST: building from source" \
         "(times: docs/get_started.md#set-up-times)"
    export FORCE_CUDA=1
    NO_CACHE=--no-cache-dir  # pip's cache may hold a wheel built without CUDA ops
  else
    step "mmcv 2.1.0 with compiled ops: building from source (times: docs/get_started.md#set-up-times)"
    NO_CACHE=  # a wheel from pip's cache is taken if it holds the compiled ops (checked below)
  fi
  # The wheel first: the installed mmcv (or mmcv-lite, which shares its files) is replaced only
  # once the build has succeeded. A cached wheel without compiled ops (no mmcv/_ext) is not
  # taken: it is built anew without the cache.
  WHEELS=$(mktemp -d)
  trap 'rm -rf "$WHEELS"' EXIT
  build_mmcv() {
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} $PY -m pip wheel --quiet \
      --disable-pip-version-check -c tools/constraints.txt --no-build-isolation --no-deps \
      -w "$WHEELS" "$@" mmcv
  }
  build_mmcv $NO_CACHE
  if ! $PY -c 'import glob, sys, zipfile
sys.exit(not any(n.startswith("mmcv/_ext") for w in glob.glob(sys.argv[1] + "/mmcv-*.whl")
                 for n in zipfile.ZipFile(w).namelist()))' "$WHEELS"; then
    step "pip's cached mmcv wheel has no compiled ops: building it anew"
    rm -f "$WHEELS"/mmcv-*.whl
    build_mmcv --no-cache-dir
  fi
  $PY -m pip uninstall --quiet -y mmcv-lite 2>/dev/null || true
  $PIP --force-reinstall --no-deps "$WHEELS"/mmcv-*.whl
  $PIP mmcv  # its dependencies
fi

step "mmengine, mmdet, mmsegmentation, ONNX Runtime, OpenVINO, NNCF and mmtnt (editable, with test and deploy extras)"
$PIP -e ".[tests,deploy]"
step "mmpretrain (peer TNT for the tests; --no-deps, its imports listed explicitly)"
$PIP --no-deps mmpretrain
$PIP importlib_metadata einops modelindex rich mat4py

# mmcv.ops imports and its nms / RoIAlign run (with --cuda: on the GPU against the CPU)
$PY tools/cuda_toolchain.py check-mmcv $([ $CUDA_OPS = 1 ] && echo --cuda)
$PY -c 'import numpy, onnxruntime, openvino, nncf, torch, mmcv, mmdet, mmseg, timm, mmpretrain, mmtnt; print(f"[mmtnt setup] done: torch {torch.__version__}, numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}, nncf {nncf.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, timm {timm.__version__}, mmtnt {mmtnt.__version__}")'
