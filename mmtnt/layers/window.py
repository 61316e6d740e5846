"""Windowed self-attention over the patch grid (ViTDet), keeping TNT's class token global."""
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from .export import is_exporting

AttendFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor]],
                    torch.Tensor]


def window_partition(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split a grid into non-overlapping windows, zero-padding it to a multiple of the window.

    Args:
        x: (B, H, W, C) grid.
        window_size: window side.

    Returns:
        windows: (B * num_windows, window_size * window_size, C).
        (Hp, Wp): the padded grid size.
    """
    B, H, W, C = x.shape
    pad_h, pad_w = -H % window_size, -W % window_size
    if is_exporting() or pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.reshape(B, Hp // window_size, window_size, Wp // window_size, window_size, C)
    return x.transpose(2, 3).reshape(-1, window_size * window_size, C), (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int, padded: Tuple[int, int],
                       grid: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, ws * ws, C) -> (B, H, W, C), padding cropped."""
    (Hp, Wp), (H, W) = padded, grid
    C = windows.shape[-1]
    x = windows.reshape(-1, Hp // window_size, Wp // window_size, window_size, window_size, C)
    x = x.transpose(2, 3).reshape(-1, Hp, Wp, C)
    return x[:, :H, :W]


def windowed_attention(qkv: torch.Tensor, grid: Tuple[int, int], window_size: int, num_heads: int,
                       attend: AttendFn) -> torch.Tensor:
    """Self-attention of patch tokens within windows; the class token stays global.

    Each window attends over its own patches plus the class token; the class token attends over
    all tokens. Padded positions are masked out as keys, so one window covering the whole grid
    gives exactly global attention.

    Args:
        qkv: (B, 1 + H * W, 3 * C) fused q / k / v of the class token then the patches.
        grid: patch grid (H, W).
        window_size: window side in patches.
        num_heads: attention heads.
        attend: ``(q, k, v, mask) -> out`` on (B, heads, N, head_dim) tensors, mask boolean
            (True = attend) broadcastable to (B, heads, Nq, Nk).

    Returns:
        (B, 1 + H * W, C) attention output before the output projection.
    """
    B, N, C3 = qkv.shape
    C = C3 // 3
    head_dim = C // num_heads
    H, W = grid

    def heads(t: torch.Tensor) -> torch.Tensor:  # (b, n, 3C) -> 3 x (b, heads, n, d)
        return t.reshape(t.shape[0], t.shape[1], 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)

    # the class token: one query over every token
    _, k_all, v_all = heads(qkv).unbind(0)
    q_cls = heads(qkv[:, :1])[0]
    cls_out = attend(q_cls, k_all, v_all, None)  # (B, heads, 1, d)

    windows, padded = window_partition(qkv[:, 1:].reshape(B, H, W, C3), window_size)
    num_windows = windows.shape[0] // B
    cls_kv = qkv[:, None, :1].expand(B, num_windows, 1, C3).reshape(-1, 1, C3)
    q, k, v = heads(torch.cat([cls_kv, windows], dim=1)).unbind(0)
    mask = None
    if is_exporting() or padded != (H, W):  # exported: the mask of whatever size comes
        valid = torch.zeros(padded, dtype=torch.bool, device=qkv.device)
        valid[:H, :W] = True
        valid, _ = window_partition(valid[None, :, :, None], window_size)  # (nW, ws*ws, 1)
        mask = torch.cat([valid.new_ones(num_windows, 1), valid[..., 0]], dim=1)
        mask = mask.repeat(B, 1)[:, None, None, :]  # (B * nW, 1, 1, 1 + ws*ws)
    out = attend(q[:, :, 1:], k, v, mask)  # (B * nW, heads, ws*ws, d)
    out = out.transpose(1, 2).reshape(-1, window_size * window_size, C)
    out = window_unpartition(out, window_size, padded, grid).reshape(B, H * W, C)
    cls_out = cls_out.transpose(1, 2).reshape(B, 1, C)
    return torch.cat([cls_out, out], dim=1)
