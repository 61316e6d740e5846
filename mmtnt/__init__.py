"""mmtnt: Transformer-iN-Transformer for MMDetection and MMSegmentation.

``custom_imports=dict(imports=['mmtnt'])`` registers TNTBackbone (and the rest of mmtnt) in the
OpenMMLab registries, makes every checkpoint load through mmtnt's one safe loading path
(:mod:`mmtnt.checkpoint`) and every local checkpoint write atomic (:mod:`mmtnt.engine`).
"""
from .checkpoint import (UnsafeCheckpointError, allow_safe_checkpoint_globals,
                         load_checkpoint_safely, register_safe_loaders)
from .datasets import *  # noqa: F401,F403  registers the toy datasets
from .engine import *  # noqa: F401,F403  registers hooks, optimizer wrapper and constructor
from .engine import register_atomic_local_backend
from .models import *  # noqa: F401,F403  registers the modules
from .utils import CPUDistributedDataParallel  # noqa: F401  registers the CPU DDP wrapper
from .version import __version__

allow_safe_checkpoint_globals()
register_safe_loaders()
register_atomic_local_backend()  # every local checkpoint mmengine writes is written atomically

__all__ = [
    '__version__', 'UnsafeCheckpointError', 'allow_safe_checkpoint_globals',
    'load_checkpoint_safely', 'register_safe_loaders'
]
