#!/usr/bin/env bash
# Fill the folder that tools/gpu_check.py installs from on a GPU machine without a package
# registry (Python 3.12, torch, timm, numpy, scipy, matplotlib, opencv already there):
#   bash tools/prepare_gpu_bundle.sh [DIR]       # default .whl (ignored by git)
# then carry DIR and run `python tools/gpu_check.py --wheels DIR --out OUT` there.
# Pure-Python and manylinux wheels for CPython 3.12, versions from tools/constraints.txt where
# pinned; mmcv as its sdist (built there with its CUDA ops); setuptools<70 for that build;
# mmtnt's own wheel. CUDA_TOOLCHAIN=1 adds CUDA's compiler as wheels (about 100 MB), for a GPU
# machine without an nvcc of its torch's CUDA version.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.whl}
PY=${PYTHON:-python}
mkdir -p "$DIR"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform any)
# what mmengine / mmdet / mmseg import that the GPU image lacks
PACKAGES=(mmengine mmdet mmsegmentation addict yapf platformdirs termcolor terminaltables
          pycocotools shapely prettytable wcwidth ftfy setuptools)
$PY -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp "${PLATFORMS[@]}" -c tools/constraints.txt \
    -d "$DIR" "${PACKAGES[@]}"
if [ "${CUDA_TOOLCHAIN:-0}" = 1 ]; then
  $PY -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      "${PLATFORMS[@]}" -c tools/constraints.txt -d "$DIR" \
      nvidia-cuda-nvcc nvidia-cuda-cccl nvidia-cuda-crt nvidia-nvvm nvidia-cuda-cuobjdump
fi
# pip reads the sdist's metadata in an isolated build environment, where only PIP_CONSTRAINT
# reaches (mmcv's setup.py needs setuptools<70's pkg_resources)
PIP_CONSTRAINT=tools/constraints.txt $PY -m pip download --quiet --disable-pip-version-check \
    --no-deps --no-binary=:all: -d "$DIR" mmcv
$PY -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w "$DIR" .
ls -1 "$DIR"
du -sh "$DIR"
