"""Pure-PyTorch TNT layers (imports torch only)."""
from .attention import (Attention, FusedAttn, check_fused_attn, manual_attention,
                        use_fused_kernel)
from .drop import DropPath, drop_path
from .export import is_exporting
from .mlp import Mlp, SqueezeExcite
from .norm import LayerNorm2d
from .pixel_embed import PixelEmbed, pad_to_multiple, words_to_map
from .prototype_attention import (PrototypeAttention, PrototypeDecoderLayer, add_shared,
                                  prototype_maps, split_pointwise)
from .pos_embed import aa_bicubic_weights, resample_grid, resample_patch_pos, resample_rel_pos
from .pyramid_tnt import (PyramidStem, PyramidTNTBlock, PyramidTNTStage, SentenceAggregation,
                          SRAttention, WordAggregation, reduced_grid)
from .tnt_block import TNTBlock, TransformerLayer, WordToPatch
from .window import window_partition, window_unpartition, windowed_attention

__all__ = [
    'Attention', 'FusedAttn', 'check_fused_attn', 'manual_attention', 'use_fused_kernel',
    'DropPath', 'drop_path', 'LayerNorm2d', 'Mlp', 'SqueezeExcite',
    'PixelEmbed', 'PrototypeAttention', 'PrototypeDecoderLayer', 'add_shared',
    'prototype_maps', 'split_pointwise', 'is_exporting', 'aa_bicubic_weights',
    'pad_to_multiple', 'words_to_map', 'resample_grid', 'resample_patch_pos', 'resample_rel_pos',
    'PyramidStem', 'PyramidTNTBlock', 'PyramidTNTStage', 'SentenceAggregation', 'SRAttention', 'WordAggregation',
    'reduced_grid', 'TNTBlock', 'TransformerLayer',
    'WordToPatch', 'window_partition', 'window_unpartition', 'windowed_attention'
]
