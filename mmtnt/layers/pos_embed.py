"""Resampling of the patch position grid to any input grid."""
from typing import Tuple

import torch
import torch.nn.functional as F


def resample_patch_pos(pos: torch.Tensor,
                       new_size: Tuple[int, int],
                       old_size: Tuple[int, int],
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
    dtype = grid.dtype
    grid = grid.float().reshape(1, old_h, old_w, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_size, mode='bicubic', align_corners=False, antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_size[0] * new_size[1], -1).to(dtype)
    return torch.cat([prefix, grid], dim=1)
