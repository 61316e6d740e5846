"""Checkpoints of every published TNT layout, made by the peer implementations themselves.

Nothing can be downloaded here, so each layout's weights are produced by the peer: timm's
``state_dict()`` (current and legacy), the official layout derived from timm's by the documented
key map, and mmpretrain's ``TNT`` wrapped like an mmpretrain classifier checkpoint. Each entry of
``LAYOUTS`` is ``(checkpoint object, legacy, features(x) -> (block 5 / 11 maps, final tokens))``.
"""
from typing import Optional

import timm
import torch

from mmtnt import TNTBackbone

from . import randomize_

TOL = dict(atol=1e-4, rtol=1e-4)

# timm -> official names (the inverse of timm's checkpoint_filter_fn)
_TIMM_TO_OFFICIAL = (('patch_pos', 'outer_pos'), ('pixel_pos', 'inner_pos'),
                     ('pixel_embed.', 'patch_embed.'), ('norm1_proj', 'proj_norm1'),
                     ('norm2_proj', 'proj_norm2'), ('norm_in.', 'inner_norm1.'),
                     ('attn_in.', 'inner_attn.'), ('norm_mlp_in.', 'inner_norm2.'),
                     ('mlp_in.', 'inner_mlp.'), ('norm_out.', 'outer_norm1.'),
                     ('attn_out.', 'outer_attn.'), ('norm_mlp.', 'outer_norm2.'),
                     ('.mlp.', '.outer_mlp.'))


def timm_to_official(sd):
    out = {}
    for k, v in sd.items():
        for old, new in _TIMM_TO_OFFICIAL:
            k = k.replace(old, new)
        if k == 'inner_pos':  # (1, C, 4, 4) -> (1, 16, C)
            v = v.flatten(2).transpose(1, 2)
        out[k] = v
    out['outer_tokens'] = torch.zeros(1, 196, sd['patch_pos'].shape[-1])
    return out


def _timm_ref(name):
    torch.manual_seed(3)
    return randomize_(timm.create_model(name, pretrained=False)).eval()


def timm_features(ref, x):
    with torch.no_grad():
        inter = ref.forward_intermediates(x, indices=[5, 11], norm=False, intermediates_only=True)
        final = ref.forward_features(x)[:, 1:]
    return inter, final


def _mmpretrain_features(ref, x):
    """Patch tokens of blocks 5 and 11 (no norm) and after the final norm, from forward hooks."""
    got = {}  # clone: mmpretrain's next layer updates this layer's output in place
    hooks = [ref.layers[i].register_forward_hook(
        lambda m, a, out, i=i: got.__setitem__(i, out[1][:, 1:].clone())) for i in (5, 11)]
    hooks.append(ref.norm.register_forward_hook(lambda m, a, out: got.__setitem__('n', out[:, 1:])))
    with torch.no_grad():
        ref(x)
    for h in hooks:
        h.remove()
    side = int(got[5].shape[1]**0.5)
    maps = [got[i].reshape(x.shape[0], side, side, -1).permute(0, 3, 1, 2) for i in (5, 11)]
    return maps, got['n']


def _mmpretrain_ref():
    from mmpretrain.models.backbones import TNT
    torch.manual_seed(4)
    ref = TNT(arch='s')
    ref.init_weights()
    randomize_(ref)
    ref.eval()  # mmpretrain's BaseBackbone.train() returns None: no chaining
    return ref


def _layouts():
    """(name, checkpoint object, legacy, features fn)"""
    timm_s = _timm_ref('tnt_s_patch16_224')
    legacy = _timm_ref('tnt_s_legacy_patch16_224')
    mmpre = _mmpretrain_ref()
    mmpre_ckpt = dict(state_dict={
        **{f'backbone.{k}': v for k, v in mmpre.state_dict().items()},
        'head.fc.weight': torch.zeros(1000, 384), 'head.fc.bias': torch.zeros(1000)},
        meta=dict(epoch=300))
    return [
        ('timm', timm_s.state_dict(), False, lambda x: timm_features(timm_s, x)),
        ('timm_legacy', legacy.state_dict(), True, lambda x: timm_features(legacy, x)),
        ('official', dict(state_dict_ema=None, model=timm_to_official(timm_s.state_dict())), False,
         lambda x: timm_features(timm_s, x)),
        ('mmpretrain', mmpre_ckpt, True, lambda x: _mmpretrain_features(mmpre, x)),
    ]


LAYOUTS = {name: rest for name, *rest in _layouts()}


def assert_loads_like_peer(checkpoint: str, layout: str, also_at: Optional[int] = None) -> None:
    """Load ``checkpoint`` (path, URL, hub id) through init_cfg as ``layout``'s backbone and check
    blocks 5 / 11 and the final-norm tokens against the peer's to 1e-4 at 224x224; with
    ``also_at``, that the resampled position grid runs at that size too."""
    _, legacy, features = LAYOUTS[layout]
    init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    blocks = TNTBackbone(arch='s', legacy=legacy, out_indices=(5, 11), final_norm=False,
                         init_cfg=init_cfg)
    normed = TNTBackbone(arch='s', legacy=legacy, init_cfg=init_cfg)
    blocks.init_weights(), normed.init_weights()
    x = torch.randn(2, 3, 224, 224)
    expected_maps, expected_final = features(x)
    with torch.no_grad():
        for a, b in zip(blocks.eval()(x), expected_maps):
            torch.testing.assert_close(a, b, **TOL)
        final = normed.eval()(x)[0].flatten(2).transpose(1, 2)
        torch.testing.assert_close(final, expected_final, **TOL)
        if also_at:
            out = normed(torch.randn(1, 3, also_at, also_at))[0]
            assert out.shape == (1, 384, also_at // 16, also_at // 16)
            assert torch.isfinite(out).all()
