"""Resampling of learned position tables (position grids, relative position biases) to any grid.

The resampling is PyTorch's antialiased bicubic interpolation (``F.interpolate(mode='bicubic',
antialias=True)``, as timm and the TNT checkpoints' own fine-tuning use), written as what it is:
per axis a linear map whose (out, in) weights depend only on the two sizes. Computed from the
sizes with plain tensor ops, the same code runs eagerly and exports (ONNX has no antialiased
bicubic operator), and an exported graph resamples for the size of the input it is given.
"""
from typing import Tuple, Union

import torch

from .export import is_exporting

Size = Tuple[int, int]
SizeLike = Union[int, torch.Tensor]  # a traced size is a 0-dim tensor


def _keys_cubic(x: torch.Tensor) -> torch.Tensor:
    """The bicubic kernel of antialiased resampling (Keys, a = -0.5, as PIL and PyTorch)."""
    a = -0.5
    x = x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return torch.where(x < 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def aa_bicubic_weights(in_size: int, out_size: SizeLike,
                       device: torch.device = None) -> torch.Tensor:
    """The (out_size, in_size) fp32 matrix of antialiased bicubic resampling along one axis.

    Output ``i`` is centred at ``scale * (i + 0.5)`` input pixels (``scale = in / out``,
    align_corners=False); the kernel is stretched by ``scale`` when shrinking (the antialiasing),
    taps outside the input are dropped and each row renormalised, exactly as PyTorch's
    ``_upsample_bicubic2d_aa`` (equal to it within fp32 rounding; the identity when the sizes
    match). ``out_size`` may be a traced size: the matrix is then computed in the graph.
    """
    out_idx = torch.arange(out_size, device=device, dtype=torch.float32)
    scale = in_size / (out_idx.new_zeros(()) + out_size)
    stretch = scale.clamp(min=1.)
    support = 2. * stretch
    center = scale * (out_idx + 0.5)
    in_idx = torch.arange(in_size, device=device, dtype=torch.float32)
    weights = _keys_cubic((in_idx[None] - center[:, None] + 0.5) / stretch)
    # PyTorch truncates; floor is the same here (negatives clamp to 0) and exports to ONNX
    first = (center - support + 0.5).floor().clamp(min=0.)
    last = (center + support + 0.5).floor().clamp(max=float(in_size))
    taps = (in_idx[None] >= first[:, None]) & (in_idx[None] < last[:, None])
    weights = weights * taps
    return weights / weights.sum(1, keepdim=True)


def _resample(x: torch.Tensor, old_size: Size, new_size: Tuple[SizeLike, SizeLike]) -> torch.Tensor:
    rows = aa_bicubic_weights(old_size[0], new_size[0], x.device)
    cols = aa_bicubic_weights(old_size[1], new_size[1], x.device)
    return (rows @ x.float() @ cols.t()).to(x.dtype)


def resample_grid(x: torch.Tensor, new_size: Size) -> torch.Tensor:
    """Bicubic (antialiased) resampling of (N, C, h, w) maps to ``new_size``, computed in fp32
    and cast back to ``x.dtype``; the identity when the size does not change."""
    new_size = tuple(new_size)
    old_size = tuple(x.shape[-2:])
    if not is_exporting() and old_size == new_size:
        return x
    return _resample(x, old_size, new_size)


def resample_patch_pos(pos: torch.Tensor,
                       new_size: Size,
                       old_size: Size,
                       num_prefix_tokens: int = 1) -> torch.Tensor:
    """Resample a flattened position grid, keeping its prefix (class) tokens as they are.

    Used both in the forward pass (any input size) and when loading weights trained at another
    size: one code path for one job. Bicubic, computed in fp32, cast back to ``pos.dtype``.

    Args:
        pos: (1, num_prefix_tokens + old_h * old_w, C) position embedding.
        new_size: target grid (h, w) in patches.
        old_size: grid (h, w) that ``pos`` is stored at.
        num_prefix_tokens: leading tokens (class token) that carry no grid position.

    Returns:
        (1, num_prefix_tokens + h * w, C).
    """
    new_size, old_size = tuple(new_size), tuple(old_size)
    old_h, old_w = old_size
    if not is_exporting() and pos.shape[1] != num_prefix_tokens + old_h * old_w:
        raise ValueError(f'Position embedding has {pos.shape[1]} tokens, but a {old_h}x{old_w} grid '
                         f'with {num_prefix_tokens} prefix token(s) needs '
                         f'{num_prefix_tokens + old_h * old_w}.')
    if not is_exporting() and new_size == old_size:
        return pos
    prefix, grid = pos[:, :num_prefix_tokens], pos[:, num_prefix_tokens:]
    grid = grid.reshape(1, old_h, old_w, -1).permute(0, 3, 1, 2)
    grid = _resample(grid, old_size, new_size)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_size[0] * new_size[1], -1)
    return torch.cat([prefix, grid], dim=1)


def resample_rel_pos(bias: torch.Tensor,
                     new_q_size: Size,
                     new_k_size: Size,
                     old_q_size: Size,
                     old_k_size: Size) -> torch.Tensor:
    """Resample a learned (query grid) x (key grid) attention bias to other grids.

    PyramidTNT learns one bias per head for every (query position, key position) pair of the
    pretraining grids. As a function of two 2-D positions it is resampled along both: the key
    grid (for every query), then the query grid (for every key), bicubic in fp32 as
    :func:`resample_patch_pos`. Used in the forward pass and when loading weights.

    Args:
        bias: (1, heads, old_qh * old_qw, old_kh * old_kw).
        new_q_size, new_k_size: target query / key grids (h, w).
        old_q_size, old_k_size: the grids ``bias`` is stored at.

    Returns:
        (1, heads, qh * qw, kh * kw).
    """
    (oqh, oqw), (okh, okw) = old_q_size, old_k_size
    (qh, qw), (kh, kw) = new_q_size, new_k_size
    heads = bias.shape[1]
    if not is_exporting() and bias.shape[2:] != (oqh * oqw, okh * okw):
        raise ValueError(f'Relative position bias of shape {tuple(bias.shape)} does not match '
                         f'query grid {oqh}x{oqw} and key grid {okh}x{okw}.')
    if not is_exporting() and (oqh, oqw, okh, okw) == (qh, qw, kh, kw):
        return bias
    # keys: (heads * queries, 1, okh, okw) -> (..., kh, kw)
    out = _resample(bias.reshape(heads * oqh * oqw, 1, okh, okw), (okh, okw), (kh, kw))
    # queries: (heads, keys, oqh, oqw) -> (..., qh, qw)
    out = out.reshape(heads, oqh, oqw, kh * kw).permute(0, 3, 1, 2)
    out = _resample(out, (oqh, oqw), (qh, qw))
    return out.permute(0, 2, 3, 1).reshape(1, heads, qh * qw, kh * kw)
