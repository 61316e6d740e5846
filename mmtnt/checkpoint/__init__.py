"""Everything mmtnt does with checkpoint files, in one place.

The path a checkpoint name travels, from a config to the loaded weights::

    init_cfg=dict(type='Pretrained', checkpoint=NAME)   (or load_from / --resume)
      -> TNTBackbone / PyramidTNT.init_weights -> backbone.load_backbone_checkpoint
         (mmengine's CheckpointLoader for the other keys: load_from, resume)
      -> load.load_checkpoint_safely(NAME)  (registered for local paths, http(s) URLs and
         hf-hub: ids by ``import mmtnt``): download / cache, then .safetensors or
         torch.load(weights_only=True) with safe_globals' allow-list; nothing runs code
      -> convert.convert_tnt_checkpoint / convert_pyramid_tnt_checkpoint: official, timm and
         mmpretrain layouts to mmtnt's, position tables resampled to the model's size
      -> the model's load_state_dict, with what was converted, dropped or missing logged.

Writing checkpoints during training is :mod:`mmtnt.engine`'s: atomic files (``atomic_io``), the
resume choice (``resume``), random state (``rng_state``), the hook (``checkpoint_hook``).
"""
from .backbone import load_backbone_checkpoint
from .convert import (LEGACY_LAYOUTS, ConvertResult, convert_pyramid_tnt_checkpoint,
                      convert_tnt_checkpoint)
from .load import (TRUST_ENV, UnsafeCheckpointError, load_checkpoint_safely,
                   register_safe_loaders)
from .safe_globals import allow_safe_checkpoint_globals, safe_checkpoint_globals

__all__ = [
    'ConvertResult', 'LEGACY_LAYOUTS', 'TRUST_ENV', 'UnsafeCheckpointError',
    'allow_safe_checkpoint_globals', 'convert_pyramid_tnt_checkpoint', 'convert_tnt_checkpoint',
    'load_backbone_checkpoint', 'load_checkpoint_safely', 'register_safe_loaders',
    'safe_checkpoint_globals'
]
