"""TNT's pixel embedding: image -> patches of visual words."""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .export import is_exporting


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of (B, C, H, W) so that H and W are multiples of ``multiple``.

    While exporting, the pad is always applied (it is zero where nothing is missing), so that the
    graph pads every input size, not only the traced one."""
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    if is_exporting() or pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


def words_to_map(words: torch.Tensor, grid: Tuple[int, int], word_grid: Tuple[int, int]) -> torch.Tensor:
    """Lay the words of every patch back out as one pixel-level feature map.

    Args:
        words: (B * h * w, wh * ww, C) word tokens, patches row-major, words row-major.
        grid: patch grid (h, w).
        word_grid: words per patch along each side (wh, ww).

    Returns:
        (B, C, h * wh, w * ww) map, i.e. stride ``patch_size / inner_stride`` finer than the patches.
    """
    (h, w), (wh, ww) = grid, word_grid
    C = words.shape[-1]
    x = words.reshape(-1, h, w, wh, ww, C).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(x.shape[0], C, h * wh, w * ww)


class PixelEmbed(nn.Module):
    """Split an image into 16x16 patches and each patch into 4x4 visual words.

    A 7x7 convolution with stride 4 gives every word ``inner_dim`` channels. The current (official)
    TNT convolves each patch on its own, with zero padding at patch borders; the legacy variant
    (timm's ``tnt_s_legacy_patch16_224``, mmpretrain) convolves the whole image, then unfolds.

    Inputs whose sides are not multiples of ``patch_size`` are zero-padded at the bottom/right.

    Args:
        in_channels: image channels.
        inner_dim: word channels.
        patch_size: patch side in pixels.
        inner_stride: stride of the word convolution; words per patch side = patch_size / stride.
        legacy: convolve the whole image before unfolding (legacy weights).
    """

    def __init__(self,
                 in_channels: int = 3,
                 inner_dim: int = 24,
                 patch_size: int = 16,
                 inner_stride: int = 4,
                 legacy: bool = False) -> None:
        super().__init__()
        if patch_size % inner_stride != 0:
            raise ValueError(f'patch_size={patch_size} must be a multiple of inner_stride={inner_stride}.')
        self.patch_size = patch_size
        self.legacy = legacy
        side = math.ceil(patch_size / inner_stride)
        self.word_grid = (side, side)
        self.num_words = side * side
        self.proj = nn.Conv2d(in_channels, inner_dim, kernel_size=7, padding=3, stride=inner_stride)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Embed an image.

        Args:
            x: (B, C_in, H, W) image; any H, W >= 1.

        Returns:
            words: (B * h * w, num_words, inner_dim) with h = ceil(H / 16), w = ceil(W / 16).
            grid: the patch grid (h, w).
        """
        x = pad_to_multiple(x, self.patch_size)
        B, C, H, W = x.shape
        h, w = H // self.patch_size, W // self.patch_size
        if self.legacy:
            x = self.proj(x)  # (B, D, 4h, 4w)
            wh, ww = self.word_grid
            x = x.reshape(B, -1, h, wh, w, ww).permute(0, 2, 4, 3, 5, 1)
            return x.reshape(B * h * w, self.num_words, -1), (h, w)
        p = self.patch_size
        x = x.reshape(B, C, h, p, w, p).permute(0, 2, 4, 1, 3, 5).reshape(B * h * w, C, p, p)
        x = self.proj(x)  # (B * N, D, 4, 4)
        # contiguous words: a transposed view would make every later LayerNorm / reshape copy
        return x.flatten(2).transpose(1, 2).contiguous(), (h, w)
