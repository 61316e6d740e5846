"""Multi-head self-attention shared by TNT's inner (word) and outer (patch) transformers."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .window import windowed_attention


def manual_attention(q: torch.Tensor,
                     k: torch.Tensor,
                     v: torch.Tensor,
                     mask: Optional[torch.Tensor] = None,
                     dropout_p: float = 0.) -> torch.Tensor:
    """Reference softmax attention, equal to ``F.scaled_dot_product_attention``.

    Args:
        q, k, v: (B, heads, N, head_dim).
        mask: broadcast to (B, heads, Nq, Nk): boolean, True where a query may attend to a key,
            or floating, added to the attention logits (as ``scaled_dot_product_attention``).
        dropout_p: dropout probability on the attention weights.

    Returns:
        (B, heads, N, head_dim).
    """
    attn = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    if mask is not None and mask.dtype == torch.bool:
        attn = attn.masked_fill(~mask, float('-inf'))
    elif mask is not None:
        attn = attn + mask
    attn = attn.softmax(dim=-1)
    if dropout_p > 0.:
        attn = F.dropout(attn, p=dropout_p)
    return attn @ v


FusedAttn = Union[bool, str]
# On a CPU, 'auto' runs the manual kernel where scaled_dot_product_attention's CPU (flash) kernel
# is slower (`python tools/benchmark.py --attention [--amp bfloat16]`; docs/advanced/speed.md):
# - float32 attention over at most SHORT_ATTENTION keys that autograd records: TNT's inner
#   attention (16 words, 6-channel heads, thousands of sequences a batch), whose SDPA backward
#   is slower than autograd through two batched matmuls;
# - bfloat16 attention over at most BF16_MANUAL_ATTENTION keys, forward and backward: TNT-S's
#   inner, outer (197 tokens at 224, 1025 at 512: 1024 patches and the class token) and windowed
#   attention, each measured faster with the manual kernel (docs/advanced/speed.md). At 4201 keys
#   (800x1344) SDPA is faster again; lengths between were not measured.
# float16 follows the float32 rule (the manual kernel for at most SHORT_ATTENTION keys that
# autograd records); longer float16 attention keeps SDPA.
SHORT_ATTENTION = 32
BF16_MANUAL_ATTENTION = 1025


def check_fused_attn(fused_attn: FusedAttn) -> FusedAttn:
    """Validate a ``fused_attn`` argument: True, False or ``'auto'``."""
    if fused_attn is True or fused_attn is False or fused_attn == 'auto':
        return fused_attn
    raise ValueError(f"fused_attn must be True (scaled_dot_product_attention), False (manual "
                     f"softmax attention) or 'auto' (scaled_dot_product_attention except where "
                     f"the manual kernel is faster on a CPU), got {fused_attn!r}.")


def use_fused_kernel(fused: FusedAttn, q: torch.Tensor, k: torch.Tensor) -> bool:
    """Whether ``fused`` runs ``scaled_dot_product_attention`` for these queries / keys.

    ``'auto'`` picks the manual kernel only on a CPU: in bfloat16 for at most
    :data:`BF16_MANUAL_ATTENTION` keys, in float32 and float16 for at most
    :data:`SHORT_ATTENTION` keys while autograd records it; SDPA everywhere else.
    """
    if fused != 'auto':
        return fused
    if q.device.type != 'cpu':
        return True
    if q.dtype == torch.bfloat16:
        return k.shape[-2] > BF16_MANUAL_ATTENTION
    # autograd first: without it (float32 inference, export) the key count is never read, so
    # tracing never turns it into a constant
    if not (torch.is_grad_enabled() and q.requires_grad):
        return True
    return k.shape[-2] > SHORT_ATTENTION


def softmax_attention(q: torch.Tensor,
                      k: torch.Tensor,
                      v: torch.Tensor,
                      mask: Optional[torch.Tensor] = None,
                      dropout_p: float = 0.,
                      fused: FusedAttn = 'auto') -> torch.Tensor:
    """``F.scaled_dot_product_attention`` or :func:`manual_attention` as ``fused`` (True, False,
    ``'auto'``: see :func:`use_fused_kernel`) picks; same args, same result."""
    if use_fused_kernel(fused, q, k):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    return manual_attention(q, k, v, mask=mask, dropout_p=dropout_p)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection.

    Args:
        dim: token channels.
        num_heads: attention heads; must divide ``dim``.
        qkv_bias: add a bias to the qkv projection.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
        fused_attn: True runs ``F.scaled_dot_product_attention``, False
            :func:`manual_attention`, ``'auto'`` the faster of the two (:func:`use_fused_kernel`).
        window_size: 0 for global attention; otherwise patches attend within windows of this
            many patches a side (the class token stays global), see :func:`windowed_attention`.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = False,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 fused_attn: FusedAttn = 'auto',
                 window_size: int = 0) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'Attention: dim={dim} is not divisible by num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.fused_attn = check_fused_attn(fused_attn)
        self.window_size = window_size
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def attend(self,
               q: torch.Tensor,
               k: torch.Tensor,
               v: torch.Tensor,
               mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Softmax attention of (B, heads, N, head_dim) tensors, fused or manual."""
        return softmax_attention(q, k, v, mask, self.attn_drop if self.training else 0.,
                                 self.fused_attn)

    def forward(self, x: torch.Tensor, grid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """x: (B, N, C) tokens -> (B, N, C).

        With ``window_size`` set, ``x`` is a class token then an (H, W) = ``grid`` of patches.
        """
        B, N, C = x.shape
        qkv = self.qkv(x)
        if self.window_size:
            if grid is None:
                raise ValueError('Windowed attention needs the patch grid (H, W).')
            x = windowed_attention(qkv, grid, self.window_size, self.num_heads, self.attend)
        else:
            q, k, v = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1,
                                                                                  4).unbind(0)
            x = self.attend(q, k, v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))
