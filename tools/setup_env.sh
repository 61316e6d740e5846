#!/usr/bin/env bash
# Set up mmtnt on a fresh machine (Python 3.11; CPU or CUDA). Idempotent: a second run only checks.
# Every version comes from tools/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
PIP="$PY -m pip install --quiet --disable-pip-version-check -c tools/constraints.txt"

step() { echo "[mmtnt setup] $*"; }

step "torch + torchvision"
$PIP torch torchvision

step "build tools for mmcv (setuptools<70 is required by its setup.py)"
$PIP setuptools wheel ninja

if $PY - <<'PYCHECK' 2>/dev/null; then
import mmcv, mmcv.ops  # noqa: F401
from mmcv.ops import nms  # noqa: F401  compiled ops present
import sys
sys.exit(0 if mmcv.__version__ == '2.1.0' else 1)
PYCHECK
  step "mmcv 2.1.0 with compiled ops already installed"
else
  step "mmcv 2.1.0 with compiled ops: building from source (~15 min on 2 cores; pip caches the wheel)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} $PIP --no-build-isolation mmcv
fi

step "mmengine, mmdet, mmsegmentation, ONNX Runtime and mmtnt (editable, with test and deploy extras)"
$PIP -e ".[tests,deploy]"
step "mmpretrain (peer TNT for the tests; --no-deps, its imports listed explicitly)"
$PIP --no-deps mmpretrain
$PIP importlib_metadata einops modelindex rich mat4py

$PY -c 'import numpy, onnxruntime, openvino, torch, mmcv, mmdet, mmseg, timm, mmpretrain, mmtnt; print(f"[mmtnt setup] done: torch {torch.__version__}, numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, timm {timm.__version__}, mmtnt {mmtnt.__version__}")'
