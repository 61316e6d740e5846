"""Registries mmtnt registers into.

mmtnt's modules go into mmengine's root registries. MMDetection's and MMSegmentation's registries
are children of those and look a type up in their parents when they do not hold it themselves, so
``type='TNTBackbone'`` builds under ``default_scope='mmdet'`` and ``default_scope='mmseg'`` alike,
with one registration.
"""
from mmengine.registry import (DATASETS, HOOKS, MODEL_WRAPPERS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
                               OPTIM_WRAPPERS, RUNNERS)

__all__ = [
    'DATASETS', 'HOOKS', 'MODEL_WRAPPERS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS',
    'RUNNERS'
]
