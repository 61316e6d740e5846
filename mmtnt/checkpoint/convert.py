"""Map TNT checkpoints from the published layouts to mmtnt's (pure functions, torch only).

Layouts:

- ``official``: huawei-noah release (``patch_embed.proj``, ``outer_pos``, ``inner_pos`` (1, 16, C),
  ``blocks.N.inner_attn.qk/v``, ``outer_tokens``, ``head``).
- ``timm``: timm >= 1.0.16 (``pixel_embed``, ``patch_pos``, ``pixel_pos`` (1, C, 4, 4),
  ``blocks.N.attn_in/attn_out``, ``norm1_proj/norm2_proj``).
- ``timm_legacy``: timm's ``tnt_s_legacy_patch16_224`` (timm keys, per-word ``norm1_proj``, no
  ``norm2_proj`` in blocks); needs ``TNTBackbone(legacy=True)``.
- ``mmpretrain``: mmpretrain's ``TNT`` (``backbone.`` prefix, ``layers.N.inner_block/outer_block``,
  mmcv ``MultiheadAttention`` with a fused ``in_proj_weight``); the legacy architecture, so it
  needs ``TNTBackbone(legacy=True)`` too.
- ``mmtnt``: this package's own keys, passed through.
"""
import re
from typing import Dict, List, Mapping, NamedTuple, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# official name -> timm name, for the parts that are renamed one to one
_OFFICIAL_TO_TIMM: Tuple[Tuple[str, str], ...] = (
    ('outer_pos', 'patch_pos'), ('inner_pos', 'pixel_pos'), ('patch_embed.', 'pixel_embed.'),
    ('proj_norm1.', 'norm1_proj.'), ('proj_norm2.', 'norm2_proj.'), ('inner_norm1.', 'norm_in.'),
    ('inner_attn.', 'attn_in.'), ('inner_norm2.', 'norm_mlp_in.'), ('inner_mlp.', 'mlp_in.'),
    ('outer_norm1.', 'norm_out.'), ('outer_attn.', 'attn_out.'), ('outer_norm2.', 'norm_mlp.'),
    ('outer_mlp.', 'mlp.'), ('se_layer.', 'se.'))

# timm block sub-module -> mmtnt block sub-module
_TIMM_BLOCK: Tuple[Tuple[str, str], ...] = (
    ('norm_in.', 'inner.norm1.'), ('attn_in.', 'inner.attn.'), ('norm_mlp_in.', 'inner.norm2.'),
    ('mlp_in.', 'inner.mlp.'), ('norm1_proj.', 'word_to_patch.norm1.'),
    ('proj.', 'word_to_patch.fc.'), ('norm2_proj.', 'word_to_patch.norm2.'),
    ('norm_out.', 'outer.norm1.'), ('attn_out.', 'outer.attn.'), ('norm_mlp.', 'outer.norm2.'),
    ('mlp.', 'outer.mlp.'), ('se.', 'outer.se.'))

# timm top-level module -> mmtnt top-level module
_TIMM_TOP: Tuple[Tuple[str, str], ...] = (
    ('pixel_embed.', 'pixel_embed.'), ('norm1_proj.', 'stem_proj.norm1.'),
    ('proj.', 'stem_proj.fc.'), ('norm2_proj.', 'stem_proj.norm2.'), ('norm.', 'norm.'),
    ('patch_pos', 'patch_pos'), ('pixel_pos', 'pixel_pos'), ('cls_token', 'cls_token'))

# mmpretrain block sub-module -> mmtnt block sub-module (per inner_block / outer_block)
_MMPRETRAIN_LAYER: Tuple[Tuple[str, str], ...] = (
    ('norm_attn.', 'norm1.'), ('attn.attn.in_proj_weight', 'attn.qkv.weight'),
    ('attn.attn.in_proj_bias', 'attn.qkv.bias'), ('attn.attn.out_proj.', 'attn.proj.'),
    ('norm_ffn.', 'norm2.'), ('ffn.layers.0.0.', 'mlp.fc1.'), ('ffn.layers.1.', 'mlp.fc2.'))

# mmpretrain top-level module -> mmtnt top-level module
_MMPRETRAIN_TOP: Tuple[Tuple[str, str], ...] = (
    ('pixel_embed.proj.', 'pixel_embed.proj.'), ('norm1_proj.', 'stem_proj.norm1.'),
    ('projection.', 'stem_proj.fc.'), ('norm2_proj.', 'stem_proj.norm2.'), ('norm.', 'norm.'),
    ('patch_pos', 'patch_pos'), ('pixel_pos', 'pixel_pos'), ('cls_token', 'cls_token'))

# layouts of the legacy TNT architecture (TNTBackbone(legacy=True))
LEGACY_LAYOUTS = ('timm_legacy', 'mmpretrain')

# keys of classification-only parts, dropped on purpose
_DROPPED = re.compile(r'^(head\.|head_dist\.|fc_norm\.|outer_tokens$)')


class ConvertResult(NamedTuple):
    """What :func:`convert_tnt_checkpoint` returns."""
    state_dict: StateDict  # mmtnt keys
    layout: str  # 'official' | 'timm' | 'timm_legacy' | 'mmpretrain' | 'mmtnt'
    unmapped: List[str]  # source keys that have no place in mmtnt
    dropped: List[str]  # classifier keys left out on purpose


def unwrap_state_dict(checkpoint: Mapping) -> Tuple[StateDict, List[str]]:
    """Take the tensors out of a checkpoint container.

    Unwraps ``state_dict`` / ``model`` / ``module`` containers and strips ``module.`` (DDP) and
    ``backbone.`` (detector / classifier) prefixes.

    Returns:
        The backbone's tensors, and the keys left out: with a ``backbone.`` prefix, every key
        outside it (a classifier's head, a detector's neck).
    """
    sd = checkpoint
    for container in ('state_dict', 'model', 'module'):
        if isinstance(sd, Mapping) and container in sd and isinstance(sd[container], Mapping):
            sd = sd[container]
    if not isinstance(sd, Mapping):
        raise TypeError(f'Expected a mapping of tensors, got {type(sd).__name__}.')
    sd = {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in sd.items()}
    if any(k.startswith('backbone.') for k in sd):
        others = sorted(k for k in sd if not k.startswith('backbone.'))
        return {k[len('backbone.'):]: v for k, v in sd.items() if k.startswith('backbone.')}, others
    return dict(sd), []


def detect_layout(sd: Mapping[str, torch.Tensor]) -> str:
    """Name the layout of an unwrapped TNT state dict; 'unknown' if it is none of them."""
    if 'stem_proj.fc.weight' in sd or 'blocks.0.inner.attn.qkv.weight' in sd:
        return 'mmtnt'
    if 'outer_pos' in sd or 'blocks.0.inner_attn.qk.weight' in sd:
        return 'official'
    if 'layers.0.inner_block.attn.attn.in_proj_weight' in sd or 'projection.weight' in sd:
        return 'mmpretrain'
    if 'patch_pos' in sd and 'blocks.0.attn_in.qk.weight' in sd:
        per_word = sd['blocks.0.norm1_proj.weight'].numel() == sd['pixel_pos'].shape[1]
        return 'timm_legacy' if per_word else 'timm'
    return 'unknown'


def _rename(key: str, table: Tuple[Tuple[str, str], ...]) -> str:
    for old, new in table:
        if key.startswith(old):
            return new + key[len(old):]
    return ''


def _official_to_timm(sd: StateDict) -> StateDict:
    out = {}
    for k, v in sd.items():
        for old, new in _OFFICIAL_TO_TIMM:
            k = k.replace(old, new)
        if k == 'pixel_pos' and v.ndim == 3:  # (1, words, C) -> (1, C, wh, ww)
            side = int(round(v.shape[1]**0.5))
            v = v.transpose(1, 2).reshape(1, v.shape[2], side, side)
        out[k] = v
    return out


def _timm_to_mmtnt(sd: StateDict) -> Tuple[StateDict, List[str]]:
    out, unmapped = {}, []
    for k, v in sd.items():
        m = re.match(r'^blocks\.(\d+)\.(.+)$', k)
        if m:
            sub = m.group(2)
            if sub.startswith(('attn_in.qk.', 'attn_out.qk.', 'attn_in.v.', 'attn_out.v.')):
                continue  # fused into qkv below
            new = _rename(sub, _TIMM_BLOCK)
            new = f'blocks.{m.group(1)}.{new}' if new else ''
        else:
            new = _rename(k, _TIMM_TOP)
        if new:
            out[new] = v
        else:
            unmapped.append(k)
    # qk (2C, C) and v (C, C) -> one fused qkv (3C, C), same head split as the source
    for k in sd:
        m = re.match(r'^blocks\.(\d+)\.attn_(in|out)\.qk\.(weight|bias)$', k)
        if m:
            i, side, param = m.groups()
            v_key = f'blocks.{i}.attn_{side}.v.{param}'
            if v_key not in sd:
                unmapped.append(k)
                continue
            part = 'inner' if side == 'in' else 'outer'
            out[f'blocks.{i}.{part}.attn.qkv.{param}'] = torch.cat([sd[k], sd[v_key]], dim=0)
    return out, unmapped


def _mmpretrain_to_mmtnt(sd: StateDict) -> Tuple[StateDict, List[str]]:
    out, unmapped = {}, []
    for k, v in sd.items():
        m = re.match(r'^layers\.(\d+)\.(.+)$', k)
        new = ''
        if m:
            i, sub = m.groups()
            for part, ours in (('inner_block.', 'inner.'), ('outer_block.', 'outer.')):
                if sub.startswith(part):
                    rest = _rename(sub[len(part):], _MMPRETRAIN_LAYER)
                    new = f'blocks.{i}.{ours}{rest}' if rest else ''
            if sub.startswith('norm_proj.'):
                new = f'blocks.{i}.word_to_patch.norm1.' + sub[len('norm_proj.'):]
            elif sub.startswith('projection.'):
                new = f'blocks.{i}.word_to_patch.fc.' + sub[len('projection.'):]
        else:
            new = _rename(k, _MMPRETRAIN_TOP)
        if new:
            out[new] = v
        else:
            unmapped.append(k)
    return out, unmapped


def _unwrap_and_detect(checkpoint: Mapping, detect, model: str,
                       layouts: str) -> Tuple[StateDict, str, List[str]]:
    """Unwrap, drop classifier keys (returned sorted) and name the layout, or raise."""
    sd, outside_backbone = unwrap_state_dict(checkpoint)
    dropped = sorted(outside_backbone + [k for k in sd if _DROPPED.match(k)])
    sd = {k: v for k, v in sd.items() if not _DROPPED.match(k)}
    layout = detect(sd)
    if layout == 'unknown':
        sample = ', '.join(sorted(sd)[:5])
        raise ValueError(f'Not a {model} checkpoint of any known layout ({layouts}); its first '
                         f'keys are: {sample}')
    return sd, layout, dropped


def convert_tnt_checkpoint(checkpoint: Mapping) -> ConvertResult:
    """Convert a TNT checkpoint of any supported layout to mmtnt's keys.

    Args:
        checkpoint: a loaded checkpoint: a state dict, or a container holding one.

    Returns:
        :class:`ConvertResult`. Classifier keys are dropped (listed in ``dropped``); keys with no
        mmtnt counterpart are listed in ``unmapped``, never silently lost.

    Raises:
        ValueError: the checkpoint is not of any known TNT layout.
    """
    sd, layout, dropped = _unwrap_and_detect(
        checkpoint, detect_layout, 'TNT', 'official, timm, timm legacy, mmpretrain, mmtnt')
    if layout == 'mmtnt':
        return ConvertResult(sd, layout, [], dropped)
    if layout == 'mmpretrain':
        out, unmapped = _mmpretrain_to_mmtnt(sd)
        return ConvertResult(out, layout, sorted(unmapped), dropped)
    if layout == 'official':
        sd = _official_to_timm(sd)
    out, unmapped = _timm_to_mmtnt(sd)
    return ConvertResult(out, layout, sorted(unmapped), dropped)


def detect_pyramid_layout(sd: Mapping[str, torch.Tensor]) -> str:
    """'official' (huawei-noah ``ptnt_*``), 'mmtnt' (this package's PyramidTNT) or 'unknown'."""
    if 'stem.common_conv.0.weight' in sd:
        return 'mmtnt'
    if 'patch_embed.common_conv.0.weight' in sd and 'stages.0.relative_pos' in sd:
        return 'official'
    return 'unknown'


def convert_pyramid_tnt_checkpoint(checkpoint: Mapping) -> ConvertResult:
    """Convert an official PyramidTNT checkpoint (``ptnt_*``, any container) to mmtnt's keys.

    The official names are kept but for the stem (``patch_embed.`` -> ``stem.``) and the
    aggregation convolutions (``conv.0.`` -> ``conv.``); the classifier head is dropped.

    Raises:
        ValueError: the checkpoint is not a PyramidTNT checkpoint.
    """
    sd, layout, dropped = _unwrap_and_detect(checkpoint, detect_pyramid_layout, 'PyramidTNT',
                                             'official ptnt_*, mmtnt')
    if layout == 'mmtnt':
        return ConvertResult(sd, layout, [], dropped)
    out = {}
    for k, v in sd.items():
        if k.startswith('patch_embed.'):
            k = 'stem.' + k[len('patch_embed.'):]
        k = re.sub(r'^((?:word|sentence)_merges\.\d+\.conv)\.0\.', r'\1.', k)
        out[k] = v
    return ConvertResult(out, layout, [], dropped)
