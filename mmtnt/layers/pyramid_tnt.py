"""PyramidTNT layers (Han, Guo, Tang, Wang 2022): convolutional stem, spatial-reduction attention
with a learned relative position bias, PyramidTNT block, word / sentence aggregation.

Shapes: an image of (H, W) (multiples of 8) gives a patch ("sentence") grid of (H/8, W/8) in
stage 0, halved per stage; every patch holds 4 x 4 words, so words sit at stride 2 in stage 0,
4, 8 and 16 in stages 1-3.
"""
from typing import Callable, Optional, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import FusedAttn, check_fused_attn, softmax_attention
from .drop import DropPath
from .export import is_exporting
from .mlp import Mlp
from .pos_embed import resample_rel_pos

Grid = Tuple[int, int]
WORDS_SIDE = 4  # words per patch side


def reduced_grid(grid: Grid, sr_ratio: int) -> Grid:
    """Key grid of spatial-reduction attention: average pooling by ``sr_ratio``, partial windows
    at the bottom / right included (equal to plain pooling when the sides divide). Ceiling
    division on positive integers only: a traced (exported) size keeps it as a graph expression,
    and ONNX's integer division truncates, which would floor ``-(-h // r)`` the wrong way."""
    return (grid[0] + sr_ratio - 1) // sr_ratio, (grid[1] + sr_ratio - 1) // sr_ratio


class SRAttention(nn.Module):
    """Multi-head attention whose keys / values come from an average-pooled grid (PVT), with an
    optional additive (B or 1, heads, Nq, Nk) bias.

    Args:
        dim: token channels.
        num_heads: heads; must divide ``dim``.
        sr_ratio: key / value pooling factor (1: plain attention).
        qkv_bias: bias in the q and kv projections.
        attn_drop: dropout on attention weights.
        proj_drop: dropout after the output projection.
        fused_attn: attention kernel: True (``F.scaled_dot_product_attention``), False (the
            manual softmax path) or ``'auto'`` (see :func:`~mmtnt.layers.attention.use_fused_kernel`).
        norm_layer: callable ``dim -> nn.Module`` for the pooled keys.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 sr_ratio: int = 1,
                 qkv_bias: bool = False,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 fused_attn: FusedAttn = 'auto',
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'SRAttention: dim={dim} is not divisible by num_heads={num_heads}.')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.sr_ratio = sr_ratio
        self.attn_drop = attn_drop
        self.fused_attn = check_fused_attn(fused_attn)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        if sr_ratio > 1:
            self.linear = nn.Linear(dim, dim)
            self.norm = norm_layer(dim)

    def forward(self,
                x: torch.Tensor,
                grid: Optional[Grid] = None,
                bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, N, C) tokens of an (H, W) = ``grid`` -> (B, N, C); ``bias`` in the dtype the
        attention runs in."""
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)
        kv_in = x
        if self.sr_ratio > 1:
            kv_in = x.transpose(1, 2).reshape(B, C, grid[0], grid[1])
            kv_in = F.avg_pool2d(kv_in, self.sr_ratio, ceil_mode=True).flatten(2).transpose(1, 2)
            kv_in = self.norm(self.linear(kv_in))
        k, v = self.kv(kv_in).reshape(B, -1, 2, self.num_heads, self.head_dim).permute(
            2, 0, 3, 1, 4).unbind(0)
        x = softmax_attention(q, k, v, bias, self.attn_drop if self.training else 0.,
                              self.fused_attn)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, C)))


class PyramidTNTBlock(nn.Module):
    """One PyramidTNT block: an optional inner (word) transformer whose words are projected into
    their patch, then an outer transformer over patches with spatial reduction and the stage's
    relative position bias.

    Unlike TNT, the inner norms normalise all words of a patch together
    (``num_words * inner_dim`` channels), the word-to-patch projection has no drop path, and only
    the first block of a stage (the first two in stages of more than six) has an inner part.

    Args:
        outer_dim: patch channels.
        inner_dim: word channels; 0 for a block without inner transformer.
        outer_num_heads: outer attention heads.
        inner_num_heads: inner attention heads.
        num_words: words per patch.
        sr_ratio: outer attention key pooling.
        mlp_ratio: MLP hidden ratio (inner and outer).
        qkv_bias: bias in q / kv projections.
        drop: dropout after projections.
        attn_drop: dropout on attention weights.
        drop_path: stochastic depth probability.
        act_layer: MLP activation class.
        norm_layer: callable ``dim -> nn.Module``.
        fused_attn: attention kernel: True, False or ``'auto'`` (as :class:`SRAttention`).
    """

    def __init__(self,
                 outer_dim: int,
                 inner_dim: int,
                 outer_num_heads: int,
                 inner_num_heads: int,
                 num_words: int = WORDS_SIDE * WORDS_SIDE,
                 sr_ratio: int = 1,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = False,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 act_layer: Type[nn.Module] = nn.GELU,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
                 fused_attn: FusedAttn = 'auto') -> None:
        super().__init__()
        self.has_inner = inner_dim > 0
        common = dict(qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop,
                      fused_attn=fused_attn, norm_layer=norm_layer)
        if self.has_inner:
            patch_words = num_words * inner_dim
            self.inner_norm1 = norm_layer(patch_words)
            self.inner_attn = SRAttention(inner_dim, inner_num_heads, **common)
            self.inner_norm2 = norm_layer(patch_words)
            self.inner_mlp = Mlp(inner_dim, int(inner_dim * mlp_ratio), act_layer=act_layer,
                                 drop=drop)
            self.proj_norm1 = norm_layer(patch_words)
            self.proj = nn.Linear(patch_words, outer_dim, bias=False)
            self.proj_norm2 = norm_layer(outer_dim)
        self.outer_norm1 = norm_layer(outer_dim)
        self.outer_attn = SRAttention(outer_dim, outer_num_heads, sr_ratio=sr_ratio, **common)
        self.outer_norm2 = norm_layer(outer_dim)
        self.outer_mlp = Mlp(outer_dim, int(outer_dim * mlp_ratio), act_layer=act_layer, drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def _patch_norm(self, norm: nn.Module, words: torch.Tensor) -> torch.Tensor:
        """Normalise each patch's words jointly: (B*N, M, c) -> (B*N, M, c)."""
        return norm(words.reshape(words.shape[0], -1)).reshape(words.shape)

    def forward(self, words: torch.Tensor, patches: torch.Tensor, grid: Grid,
                bias: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run the block.

        Args:
            words: (B * H * W, num_words, inner_dim) word tokens.
            patches: (B, H * W, outer_dim) patch tokens, (H, W) = ``grid``.
            bias: the stage's relative position bias, (1, heads, H * W, keys).

        Returns:
            The updated ``(words, patches)``.
        """
        B, N, _ = patches.shape
        if self.has_inner:
            words = words + self.drop_path(self.inner_attn(self._patch_norm(self.inner_norm1,
                                                                            words)))
            words = words + self.drop_path(self.inner_mlp(self._patch_norm(self.inner_norm2,
                                                                           words)))
            patches = patches + self.proj_norm2(
                self.proj(self.proj_norm1(words.reshape(B, N, -1))))
        patches = patches + self.drop_path(self.outer_attn(self.outer_norm1(patches), grid, bias))
        patches = patches + self.drop_path(self.outer_mlp(self.outer_norm2(patches)))
        return words, patches


class PyramidStem(nn.Module):
    """Convolutional stem: stride-2 shared convolution, then stride-2 words (4 x 4 per patch) and
    stride-8 patches.

    Args:
        in_channels: image channels.
        outer_dim: stage-0 patch channels.
        inner_dim: stage-0 word channels.
        norm_layer: 2-D normalisation class for the convolutions (BatchNorm2d officially).
    """

    def __init__(self,
                 in_channels: int,
                 outer_dim: int,
                 inner_dim: int,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.inner_dim = inner_dim

        def conv(c_in: int, c_out: int, stride: int) -> list:
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), norm_layer(c_out),
                    nn.ReLU(inplace=True)]

        self.common_conv = nn.Sequential(*conv(in_channels, inner_dim * 2, 2))
        self.inner_convs = nn.Sequential(*conv(inner_dim * 2, inner_dim, 1))
        self.outer_convs = nn.Sequential(*conv(inner_dim * 2, inner_dim * 4, 2),
                                         *conv(inner_dim * 4, inner_dim * 8, 2),
                                         *conv(inner_dim * 8, outer_dim, 1))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Grid]:
        """x: (B, C, H, W), sides multiples of 8 -> words (B * H/8 * W/8, 16, inner_dim),
        patches (B, H/8 * W/8, outer_dim), and the patch grid (H/8, W/8)."""
        B = x.shape[0]
        x = self.common_conv(x)
        words = self.inner_convs(x)  # (B, c, H/2, W/2)
        h, w = words.shape[2] // WORDS_SIDE, words.shape[3] // WORDS_SIDE
        words = words.reshape(B, self.inner_dim, h, WORDS_SIDE, w, WORDS_SIDE)
        words = words.permute(0, 2, 4, 3, 5, 1).reshape(B * h * w, WORDS_SIDE * WORDS_SIDE,
                                                        self.inner_dim)
        patches = self.outer_convs(x).flatten(2).transpose(1, 2)
        return words, patches, (h, w)


class SentenceAggregation(nn.Module):
    """Patches of one stage -> the next: norm, then a stride-2 convolution (kernel 3, pad 1)."""

    def __init__(self, dim_in: int, dim_out: int,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.norm = norm_layer(dim_in)
        self.conv = nn.Conv2d(dim_in, dim_out, kernel_size=3, padding=1, stride=2)

    def forward(self, patches: torch.Tensor, grid: Grid) -> Tuple[torch.Tensor, Grid]:
        """(B, H * W, C) -> (B, ceil(H/2) * ceil(W/2), dim_out) and the new grid."""
        B, _, C = patches.shape
        x = self.norm(patches).transpose(1, 2).reshape(B, C, grid[0], grid[1])
        x = self.conv(x)
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


class WordAggregation(nn.Module):
    """Words of one stage -> the next: the 2 x 2 patches that merge pool their 8 x 8 words into
    4 x 4 by a stride-2 convolution (kernel 3, pad 1). Odd grids are zero-padded at the bottom /
    right, as the official code does for detection sizes."""

    def __init__(self, dim_in: int, dim_out: int,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.dim_out = dim_out
        self.norm = norm_layer(dim_in)
        self.conv = nn.Conv2d(dim_in, dim_out, kernel_size=3, padding=1, stride=2)

    def forward(self, words: torch.Tensor, grid: Grid, batch_size: int) -> torch.Tensor:
        """(B * H * W, 16, c) -> (B * ceil(H/2) * ceil(W/2), 16, dim_out)."""
        h, w = grid
        c = words.shape[-1]
        s = WORDS_SIDE
        x = self.norm(words).reshape(batch_size, h, w, s, s, c)
        if is_exporting() or h % 2 or w % 2:  # exported: padded by 0 or 1 as the size needs
            x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, w % 2, 0, h % 2))
            h, w = h + h % 2, w + w % 2
        # (B, h, w, s, s, c) -> one (2s x 2s) word map per 2 x 2 patches
        x = x.reshape(batch_size, h // 2, 2, w // 2, 2, s, s, c)
        x = x.permute(0, 1, 3, 7, 2, 5, 4, 6).reshape(-1, c, 2 * s, 2 * s)
        x = self.conv(x)  # (B * h/2 * w/2, dim_out, s, s)
        return x.flatten(2).transpose(1, 2)


class PyramidTNTStage(nn.Module):
    """The blocks of one PyramidTNT stage and the relative position bias they share.

    Args:
        depth: blocks in the stage; the first (and the second when ``depth > 6``) have an inner
            transformer.
        outer_dim, inner_dim: patch / word channels.
        outer_num_heads, inner_num_heads: attention heads.
        sr_ratio: outer attention key pooling.
        pos_grid: the patch grid the bias is stored at (the pretraining size's).
        drop_path: one stochastic depth probability per block.
        **block_kwargs: passed to :class:`PyramidTNTBlock`.
    """

    def __init__(self,
                 depth: int,
                 outer_dim: int,
                 inner_dim: int,
                 outer_num_heads: int,
                 inner_num_heads: int,
                 sr_ratio: int,
                 pos_grid: Grid,
                 drop_path: Tuple[float, ...],
                 **block_kwargs) -> None:
        super().__init__()
        self.sr_ratio = sr_ratio
        self.pos_grid = tuple(pos_grid)
        self.key_grid = reduced_grid(pos_grid, sr_ratio)
        self.blocks = nn.ModuleList([
            PyramidTNTBlock(outer_dim, inner_dim if j == 0 or (j == 1 and depth > 6) else 0,
                            outer_num_heads, inner_num_heads, sr_ratio=sr_ratio,
                            drop_path=drop_path[j], **block_kwargs) for j in range(depth)
        ])
        self.relative_pos = nn.Parameter(torch.randn(
            1, outer_num_heads, pos_grid[0] * pos_grid[1], self.key_grid[0] * self.key_grid[1]))

    def bias_for(self, grid: Grid) -> torch.Tensor:
        """The relative position bias resampled to an input's patch grid: (1, heads, N, keys)."""
        return resample_rel_pos(self.relative_pos, grid, reduced_grid(grid, self.sr_ratio),
                                self.pos_grid, self.key_grid)
