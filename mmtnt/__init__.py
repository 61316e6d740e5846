"""mmtnt: Transformer-iN-Transformer for MMDetection and MMSegmentation.

``custom_imports=dict(imports=['mmtnt'])`` registers TNTBackbone (and the rest of mmtnt) in the
OpenMMLab registries.
"""
from .compat import allow_mmengine_checkpoint_globals
from .datasets import *  # noqa: F401,F403  registers the toy datasets
from .engine import *  # noqa: F401,F403  registers the layer-decay optimizer constructor
from .models import *  # noqa: F401,F403  registers the modules
from .utils import CPUDistributedDataParallel  # noqa: F401  registers the CPU DDP wrapper
from .version import __version__

allow_mmengine_checkpoint_globals()

__all__ = ['__version__', 'allow_mmengine_checkpoint_globals']
