"""Resampling of learned position tables (position grids, relative position biases) to any grid."""
from typing import Tuple

import torch
import torch.nn.functional as F

Size = Tuple[int, int]


def resample_grid(x: torch.Tensor, new_size: Size) -> torch.Tensor:
    """Bicubic (antialiased) resampling of (N, C, h, w) maps to ``new_size``, computed in fp32
    and cast back to ``x.dtype``; the identity when the size does not change."""
    new_size = tuple(new_size)
    if tuple(x.shape[-2:]) == new_size:
        return x
    out = F.interpolate(x.float(), size=new_size, mode='bicubic', align_corners=False,
                        antialias=True)
    return out.to(x.dtype)


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
    if pos.shape[1] != num_prefix_tokens + old_h * old_w:
        raise ValueError(f'Position embedding has {pos.shape[1]} tokens, but a {old_h}x{old_w} grid '
                         f'with {num_prefix_tokens} prefix token(s) needs '
                         f'{num_prefix_tokens + old_h * old_w}.')
    if new_size == old_size:
        return pos
    prefix, grid = pos[:, :num_prefix_tokens], pos[:, num_prefix_tokens:]
    grid = grid.reshape(1, old_h, old_w, -1).permute(0, 3, 1, 2)
    grid = resample_grid(grid, new_size)
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
    if bias.shape[2:] != (oqh * oqw, okh * okw):
        raise ValueError(f'Relative position bias of shape {tuple(bias.shape)} does not match '
                         f'query grid {oqh}x{oqw} and key grid {okh}x{okw}.')
    if (oqh, oqw, okh, okw) == (qh, qw, kh, kw):
        return bias
    # keys: (heads * queries, 1, okh, okw) -> (..., kh, kw)
    out = resample_grid(bias.reshape(heads * oqh * oqw, 1, okh, okw), (kh, kw))
    # queries: (heads, keys, oqh, oqw) -> (..., qh, qw)
    out = out.reshape(heads, oqh, oqw, kh * kw).permute(0, 3, 1, 2)
    out = resample_grid(out, (qh, qw))
    return out.permute(0, 2, 3, 1).reshape(1, heads, qh * qw, kh * kw)
