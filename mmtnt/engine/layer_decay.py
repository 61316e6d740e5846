"""Layer-wise learning-rate decay for detectors / segmentors with a TNTBackbone."""
from collections import defaultdict
from typing import Dict, List

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmtnt.models.backbones import TNTBackbone
from mmtnt.registry import OPTIM_WRAPPER_CONSTRUCTORS

# parameters without weight decay besides norms and biases
_NO_DECAY_NAMES = ('patch_pos', 'pixel_pos', 'cls_token')
_STEM_NAMES = ('pixel_embed.', 'stem_proj.', 'patch_pos', 'pixel_pos', 'cls_token')


def tnt_layer_id(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer decay: 0 for TNT's stem, i + 1 for block i, and
    ``num_layers + 1`` for the final norm and everything outside the backbone (neck, heads).

    Args:
        name: parameter name in the whole model (``backbone.blocks.3.inner.attn.qkv.weight``),
            with or without a wrapper's ``module.`` prefix.
        num_layers: the backbone's number of blocks.
    """
    if 'backbone.' not in name:
        return num_layers + 1
    name = name.split('backbone.', 1)[1]
    if name.startswith(_STEM_NAMES):
        return 0
    if name.startswith('blocks.'):
        return int(name.split('.')[1]) + 1
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TNTLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise learning-rate decay (BEiT / ViTDet style) for models with a TNTBackbone.

    A parameter at depth ``d`` (see :func:`tnt_layer_id`) trains with
    ``lr * layer_decay_rate ** (num_layers + 1 - d)``: the stem least, the neck and heads at the
    full rate. Norms, biases, position encodings and the class token get no weight decay. The
    decay rate and every parameter group are logged when the optimizer is built.

    ``paramwise_cfg``: ``dict(layer_decay_rate=0.75)``; ``num_layers`` comes from the model's
    TNTBackbone. Other paramwise options of the default constructor are not applied.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError('TNTLayerDecayOptimizerConstructor needs '
                             'paramwise_cfg=dict(layer_decay_rate=...), e.g. 0.75.')
        rate = paramwise_cfg['layer_decay_rate']
        if not 0 < rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {rate}.')
        unknown = set(paramwise_cfg) - {'layer_decay_rate'}
        if unknown:
            raise ValueError(f'TNTLayerDecayOptimizerConstructor takes only layer_decay_rate in '
                             f'paramwise_cfg; got also {sorted(unknown)}.')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        backbones = [m for m in module.modules() if isinstance(m, TNTBackbone)]
        if len(backbones) != 1:
            raise ValueError(f'TNTLayerDecayOptimizerConstructor needs a model with exactly one '
                             f'TNTBackbone, found {len(backbones)}.')
        num_layers = backbones[0].num_layers
        rate = self.paramwise_cfg['layer_decay_rate']
        groups: Dict[str, dict] = {}
        counts: Dict[str, int] = defaultdict(int)
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = param.ndim == 1 or name.split('.')[-1] in _NO_DECAY_NAMES
            layer_id = tnt_layer_id(name, num_layers)
            key = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}'
            if key not in groups:
                scale = rate**(num_layers + 1 - layer_id)
                groups[key] = dict(params=[], lr=self.base_lr * scale, lr_scale=scale,
                                   weight_decay=0. if no_decay else self.base_wd)
            groups[key]['params'].append(param)
            counts[key] += param.numel()
        params.extend(groups.values())
        lines = [f'layer decay rate {rate} over {num_layers} TNT blocks; parameter groups:']
        for key, group in sorted(groups.items(), key=lambda kv: int(kv[0].split('_')[1])):
            lines.append(f'  {key:<22} lr={group["lr"]:.3e} (x{group["lr_scale"]:.4f}) '
                         f'weight_decay={group["weight_decay"]} params={counts[key]}')
        print_log('\n'.join(lines), logger='current')
