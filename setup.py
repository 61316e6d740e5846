"""mmtnt: Transformer-iN-Transformer backbones for MMDetection 3.x and MMSegmentation 1.x.

Exact, tested versions are pinned in tools/constraints.txt and installed by tools/setup_env.sh;
the ranges below are what mmtnt itself needs.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

version = re.search(r"__version__ = '([^']+)'",
                    (Path(__file__).parent / 'mmtnt' / 'version.py').read_text()).group(1)

setup(
    name='mmtnt',
    version=version,
    description='Transformer-iN-Transformer (TNT) backbones for MMDetection and MMSegmentation',
    long_description=(Path(__file__).parent / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmtnt', 'mmtnt.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.1',
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
        # ONNX export (tools/export_onnx.py, mmtnt.deploy) and ONNX Runtime inference;
        # onnxscript only for the torch.export route (--dynamo)
        'deploy': ['onnx>=1.16', 'onnxruntime>=1.18', 'onnxscript>=0.5'],
        'tests': ['pytest', 'timm>=1.0.16', 'onnx>=1.16', 'onnxruntime>=1.18', 'onnxscript>=0.5'],
    },
    license='Apache-2.0',
)
