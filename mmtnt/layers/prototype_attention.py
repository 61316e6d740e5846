"""Class-prototype attention: one learned query per class reads a token map (Trans2Seg's decoder).

Each class prototype attends over the encoder's tokens; the attention logits of a prototype are a
map over the image (one per head), which a convolutional head turns into that class's mask.
"""
from typing import Callable, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .drop import DropPath
from .mlp import Mlp


class PrototypeAttention(nn.Module):
    """Multi-head attention of K queries over N tokens that also returns its logits.

    Args:
        dim: channels of queries and tokens.
        num_heads: attention heads; must divide ``dim``.
        qkv_bias: bias in the query / key / value projections.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
        with_output: False builds only the query and key projections: :meth:`forward` then
            returns the logits alone (the last decoder layer, whose output nothing reads).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = False,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 with_output: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'PrototypeAttention: dim={dim} is not divisible by '
                             f'num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.with_output = with_output
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        if with_output:
            self.v = nn.Linear(dim, dim, bias=qkv_bias)
            self.attn_drop = nn.Dropout(attn_drop)
            self.proj = nn.Linear(dim, dim)
            self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, head_dim)."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def logits(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Scaled dot products: (B, K, C) queries, (B, N, C) tokens -> (B, heads, K, N)."""
        q = self._heads(self.q(queries)) * self.head_dim**-0.5
        return q @ self._heads(self.k(tokens)).transpose(-2, -1)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor):
        """Returns ``(out, logits)``: (B, K, C) attention output and (B, heads, K, N) logits;
        the logits alone when built ``with_output=False``."""
        logits = self.logits(queries, tokens)
        if not self.with_output:
            return logits
        attn = self.attn_drop(logits.softmax(dim=-1))
        out = (attn @ self._heads(self.v(tokens))).transpose(1, 2).flatten(2)
        return self.proj_drop(self.proj(out)), logits


class PrototypeDecoderLayer(nn.Module):
    """Pre-norm decoder layer over class prototypes: ``q + attn(norm(q), norm(tokens))`` then
    ``q + mlp(norm(q))``. The tokens are read, not updated.

    Args:
        dim: channels of prototypes and tokens.
        num_heads: attention heads.
        mlp_ratio: MLP hidden channels / ``dim``.
        qkv_bias: bias in the attention projections.
        drop: dropout after the attention and MLP projections.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic depth probability of both residual branches.
        act_layer: MLP activation class.
        norm_layer: callable ``dim -> nn.Module``.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = False,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 act_layer: type = nn.GELU,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.norm_q = norm_layer(dim)
        self.norm_tokens = norm_layer(dim)
        self.attn = PrototypeAttention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                                       proj_drop=drop)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, queries: torch.Tensor,
                tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, K, C) prototypes, (B, N, C) tokens -> updated prototypes, (B, heads, K, N) logits."""
        out, logits = self.attn(self.norm_q(queries), self.norm_tokens(tokens))
        queries = queries + self.drop_path(out)
        queries = queries + self.drop_path(self.mlp(self.norm2(queries)))
        return queries, logits


def prototype_maps(logits: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Attention logits as one map stack per (image, class).

    Args:
        logits: (B, heads, K, h * w) prototype-to-token logits.
        grid: (h, w) of the token map.

    Returns:
        (B * K, heads, h, w), image-major (the K classes of image 0 first).
    """
    heads = logits.shape[1]
    return logits.transpose(1, 2).reshape(-1, heads, grid[0], grid[1])


def add_shared(x_per_class: torch.Tensor, x_shared: torch.Tensor,
               num_classes: int) -> torch.Tensor:
    """Add each image's (B, C, h, w) map to its K classes' (B * K, C, h, w) maps (ordered as
    :func:`prototype_maps`) by broadcasting, without a per-class copy of the shared map."""
    return (x_per_class.unflatten(0, (-1, num_classes)) + x_shared.unsqueeze(1)).flatten(0, 1)


def split_pointwise(x_shared: torch.Tensor, x_per_class: torch.Tensor, weight: torch.Tensor,
                    num_classes: int) -> torch.Tensor:
    """A 1x1 convolution of the per-class concatenation ``[x_shared, x_per_class]`` without
    building it: the shared part is convolved once per image, then added to each class's part.

    Args:
        x_shared: (B, Cs, h, w), the same for every class of an image.
        x_per_class: (B * K, Cp, h, w).
        weight: (Cout, Cs + Cp, 1, 1) 1x1 kernel.
        num_classes: K.

    Returns:
        (B * K, Cout, h, w), equal to ``conv1x1(cat([expand(x_shared), x_per_class], 1))``.
    """
    w_shared, w_class = weight.split([x_shared.shape[1], x_per_class.shape[1]], dim=1)
    return add_shared(F.conv2d(x_per_class, w_class), F.conv2d(x_shared, w_shared), num_classes)
