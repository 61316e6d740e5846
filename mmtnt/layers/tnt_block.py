"""TNT block: an inner transformer over the words of each patch feeding an outer one over patches."""
from typing import Callable, Optional, Tuple, Type

import torch
import torch.nn as nn

from .attention import Attention, FusedAttn
from .drop import DropPath
from .mlp import Mlp, SqueezeExcite


def _residual(x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
    """``x + branch``; without autograd, written into ``branch`` (the layer's own fresh output,
    never the caller's ``x``) to save an allocation and a pass over memory."""
    if torch.is_grad_enabled() or branch is x:
        return x + branch
    return branch.add_(x)


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``.

    Serves both TNT's inner transformer (over the words of a patch) and its outer one (over
    patches).

    Args:
        dim: token channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden channels / ``dim``.
        qkv_bias: bias in the qkv projection.
        drop: dropout after the attention and MLP projections.
        attn_drop: dropout on attention weights.
        drop_path: stochastic depth probability of both residual branches.
        act_layer: MLP activation class.
        norm_layer: callable ``dim -> nn.Module``.
        with_se: gate the MLP branch with :class:`SqueezeExcite` (TNT's optional SE).
        fused_attn: attention kernel: True (``scaled_dot_product_attention``), False (manual) or
            ``'auto'`` (see :func:`~mmtnt.layers.attention.use_fused_kernel`).
        window_size: 0 for global attention, else windows of this many tokens a side over the
            grid passed to :meth:`forward` (outer transformer only).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = False,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 act_layer: Type[nn.Module] = nn.GELU,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
                 with_se: bool = False,
                 fused_attn: FusedAttn = 'auto',
                 window_size: int = 0) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                              proj_drop=drop, fused_attn=fused_attn, window_size=window_size)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)
        self.se = SqueezeExcite(dim, 0.25, norm_layer=norm_layer) if with_se else None
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor, grid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """x: (B, N, C) -> (B, N, C); ``grid`` is the patch grid for windowed attention."""
        x = _residual(x, self.drop_path(self.attn(self.norm1(x), grid)))
        y = self.mlp(self.norm2(x))
        if self.se is not None:
            y = y + self.se(y)
        return _residual(x, self.drop_path(y))


class WordToPatch(nn.Module):
    """Flatten the words of each patch and project them to one patch-embedding vector.

    Current TNT: ``norm2(fc(norm1(flat_words)))``, norm1 over all ``num_words * inner_dim``
    channels. Legacy TNT: norm1 per word, a biased fc, no norm2.

    Args:
        inner_dim: word channels.
        num_words: words per patch.
        outer_dim: patch channels.
        bias: bias in the projection.
        per_word_norm: normalise each word over ``inner_dim`` (legacy) instead of the whole patch.
        out_norm: normalise the projected vector.
        norm_layer: callable ``dim -> nn.Module``.
    """

    def __init__(self,
                 inner_dim: int,
                 num_words: int,
                 outer_dim: int,
                 bias: bool = False,
                 per_word_norm: bool = False,
                 out_norm: bool = True,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.per_word_norm = per_word_norm
        self.norm1 = norm_layer(inner_dim if per_word_norm else inner_dim * num_words)
        self.fc = nn.Linear(inner_dim * num_words, outer_dim, bias=bias)
        self.norm2 = norm_layer(outer_dim) if out_norm else nn.Identity()

    def forward(self, words: torch.Tensor, batch_size: int) -> torch.Tensor:
        """words: (B * N, num_words, inner_dim) -> (B, N, outer_dim)."""
        if self.per_word_norm:
            x = self.norm1(words).reshape(batch_size, -1, words.shape[1] * words.shape[2])
        else:
            x = self.norm1(words.reshape(batch_size, -1, words.shape[1] * words.shape[2]))
        return self.norm2(self.fc(x))


class TNTBlock(nn.Module):
    """One TNT block.

    Words pass through the inner transformer, are projected into their patch's embedding (the
    class token gets nothing), then the patches pass through the outer transformer.

    Args:
        inner_dim: word channels.
        outer_dim: patch channels.
        num_words: words per patch.
        inner_num_heads: heads of the inner attention.
        outer_num_heads: heads of the outer attention.
        mlp_ratio: outer MLP ratio (the inner one is 4, as in the paper).
        qkv_bias: bias in the qkv projections.
        drop: dropout after projections.
        attn_drop: dropout on attention weights.
        drop_path: stochastic depth probability.
        act_layer: MLP activation class.
        norm_layer: callable ``dim -> nn.Module``.
        with_se: SE gate in the outer MLP branch.
        legacy: legacy word-to-patch projection (per-word norm, bias, no output norm).
        fused_attn: attention kernel: True (``scaled_dot_product_attention``), False (manual) or
            ``'auto'`` (see :func:`~mmtnt.layers.attention.use_fused_kernel`).
        window_size: 0 for global outer attention, else windowed (see :class:`Attention`).
    """

    def __init__(self,
                 inner_dim: int,
                 outer_dim: int,
                 num_words: int,
                 inner_num_heads: int = 4,
                 outer_num_heads: int = 6,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = False,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 act_layer: Type[nn.Module] = nn.GELU,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
                 with_se: bool = False,
                 legacy: bool = False,
                 fused_attn: FusedAttn = 'auto',
                 window_size: int = 0) -> None:
        super().__init__()
        common = dict(qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, drop_path=drop_path,
                      act_layer=act_layer, norm_layer=norm_layer, fused_attn=fused_attn)
        self.inner = TransformerLayer(inner_dim, inner_num_heads, mlp_ratio=4., **common)
        self.word_to_patch = WordToPatch(
            inner_dim, num_words, outer_dim, bias=legacy, per_word_norm=legacy,
            out_norm=not legacy, norm_layer=norm_layer)
        self.outer = TransformerLayer(outer_dim, outer_num_heads, mlp_ratio=mlp_ratio,
                                      with_se=with_se, window_size=window_size, **common)

    def forward(self, words: torch.Tensor, patches: torch.Tensor,
                grid: Optional[Tuple[int, int]] = None):
        """Run the block.

        Args:
            words: (B * N, num_words, inner_dim) word tokens.
            patches: (B, 1 + N, outer_dim) class token then patch tokens.
            grid: the (H, W) patch grid, N = H * W; needed for windowed outer attention.

        Returns:
            The updated ``(words, patches)``, same shapes.
        """
        words = self.inner(words)
        update = self.word_to_patch(words, patches.shape[0])
        patches = torch.cat([patches[:, :1], patches[:, 1:] + update], dim=1)
        return words, self.outer(patches, grid)
