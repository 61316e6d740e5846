"""mmtnt: Transformer-iN-Transformer backbones for MMDetection 3.3 and MMSegmentation 1.2.

Exact, tested versions are pinned in tools/constraints.txt and installed by tools/setup_env.sh;
the ranges below are what mmtnt itself needs.
"""
import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
MIM_DIRS = ('configs', 'tools')
MIM_FILES = ('model-index.yml', )


def add_mim_extension() -> None:
    """Put configs/ and tools/ into mmtnt/.mim/, OpenMMLab's layout (as MMDetection's setup.py):
    what `mmtnt-train mmtnt::toy/...` and `_base_ = 'mmtnt::...'` read in an installed mmtnt.
    Copied for wheels and sdists, linked for editable installs."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'build_py', 'install')):
        mode = 'copy'
    else:
        return
    mim = ROOT / 'mmtnt' / '.mim'
    mim.mkdir(exist_ok=True)
    if mode == 'copy':
        # setuptools copies package data into build/lib and never removes what the tree no longer
        # has: a moved or removed config would still ship
        shutil.rmtree(ROOT / 'build' / 'lib' / 'mmtnt' / '.mim', ignore_errors=True)
    for name in MIM_DIRS:
        src, dst = ROOT / name, mim / name
        if not src.exists():  # building from an sdist: .mim came with it
            continue
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        elif dst.exists():
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(os.path.relpath(src, mim), dst, target_is_directory=True)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    for name in MIM_FILES:
        src, dst = ROOT / name, mim / name
        if src.exists():
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            if mode == 'symlink':
                os.symlink(os.path.relpath(src, mim), dst)
            else:
                shutil.copyfile(src, dst)


add_mim_extension()

version = re.search(r"__version__ = '([^']+)'",
                    (Path(__file__).parent / 'mmtnt' / 'version.py').read_text()).group(1)

setup(
    name='mmtnt',
    version=version,
    description='Transformer-iN-Transformer (TNT) backbones for MMDetection and MMSegmentation',
    long_description=(Path(__file__).parent / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmtnt', 'mmtnt.*']),
    include_package_data=True,
    package_data={'mmtnt': ['.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml']},
    entry_points={'console_scripts': ['mmtnt-train=mmtnt.cli:train', 'mmtnt-test=mmtnt.cli:test']},
    # The ranges docs/get_started.md states (tests/test_packaging.py compares them); lower bounds
    # are the tested releases (tools/constraints.txt). torch < 2.14: its extension headers need
    # C++20, which mmcv 2.1.0's C++17 build rejects; numpy < 2: the tested stack's numpy 1.
    python_requires='>=3.11',
    install_requires=[
        'torch>=2.12,<2.14',
        'numpy<2',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',
        'mmdet>=3.3.0,<3.4',
        'mmsegmentation>=1.2.2,<1.3',
        'ftfy',  # imported by mmseg without being declared
        'regex',  # likewise
        'safetensors',  # .safetensors checkpoints (timm's Hugging Face weights)
        'huggingface_hub',  # hf-hub: checkpoint ids
        'pycocotools',
        'tensorboard',
    ],
    extras_require={
        # ONNX export (tools/export_onnx.py, mmtnt.deploy), ONNX Runtime and OpenVINO inference
        # (tools/test.py --backend); onnxscript only for the torch.export route (--dynamo); NNCF
        # quantizes for OpenVINO int8
        'deploy': [
            'onnx>=1.16', 'onnxruntime>=1.18', 'onnxscript>=0.5', 'openvino>=2025.1', 'nncf>=2.16'
        ],
        'tests': [
            'pytest', 'timm>=1.0.16', 'onnx>=1.16', 'onnxruntime>=1.18', 'onnxscript>=0.5',
            'openvino>=2025.1', 'nncf>=2.16'
        ],
    },
    license='Apache-2.0',
    license_files=['LICENSE'],
)
