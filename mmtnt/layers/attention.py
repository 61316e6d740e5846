"""Multi-head self-attention shared by TNT's inner (word) and outer (patch) transformers."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def manual_attention(q: torch.Tensor,
                     k: torch.Tensor,
                     v: torch.Tensor,
                     dropout_p: float = 0.) -> torch.Tensor:
    """Reference softmax attention, equal to ``F.scaled_dot_product_attention``.

    Args:
        q, k, v: (B, heads, N, head_dim).
        dropout_p: dropout probability on the attention weights.

    Returns:
        (B, heads, N, head_dim).
    """
    attn = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    attn = attn.softmax(dim=-1)
    if dropout_p > 0.:
        attn = F.dropout(attn, p=dropout_p)
    return attn @ v


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection.

    Args:
        dim: token channels.
        num_heads: attention heads; must divide ``dim``.
        qkv_bias: add a bias to the qkv projection.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
        fused_attn: use ``F.scaled_dot_product_attention``; False runs :func:`manual_attention`.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = False,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 fused_attn: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'Attention: dim={dim} is not divisible by num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.fused_attn = fused_attn
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) tokens -> (B, N, C)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        dropout_p = self.attn_drop if self.training else 0.
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            x = manual_attention(q, k, v, dropout_p=dropout_p)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))
