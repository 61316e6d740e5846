"""TNTBackbone: Transformer-iN-Transformer for dense prediction (MMDetection / MMSegmentation)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmengine.model.weight_init import trunc_normal_

from mmtnt.checkpoint.backbone import load_backbone_checkpoint
from mmtnt.checkpoint.convert import LEGACY_LAYOUTS, ConvertResult, convert_tnt_checkpoint
from mmtnt.layers import (FusedAttn, PixelEmbed, TNTBlock, WordToPatch, resample_patch_pos,
                          words_to_map)
from mmtnt.registry import MODELS
from .common import (BaseBackbone, check_image_batch, freeze, init_transformer_weights,
                     norm_builder, normalize_indices)

ARCH_SETTINGS: Dict[str, Dict[str, int]] = {
    # TNT-S: 23.8M params, 81.5 top-1 (paper)
    's': dict(embed_dims=384, inner_dims=24, num_layers=12, num_heads=6, inner_num_heads=4),
    # TNT-B: 65.6M params, 82.9 top-1 (paper)
    'b': dict(embed_dims=640, inner_dims=40, num_layers=12, num_heads=10, inner_num_heads=4),
}


@MODELS.register_module()
class TNTBackbone(BaseBackbone):
    """Transformer-iN-Transformer backbone (Han et al., NeurIPS 2021) for any input size.

    Each 16x16 patch is split into 4x4 visual words. An inner transformer mixes the words of each
    patch, a linear projection adds them into the patch embedding, and an outer transformer mixes
    the patches (with a class token). Inputs whose sides are not multiples of 16 are zero-padded;
    the patch position grid is resampled (bicubic, fp32) from ``pretrain_img_size`` to the input's.

    Args:
        arch: 's' (384 / 24 channels, 6 / 4 heads), 'b' (640 / 40, 10 / 4), or a dict with keys
            ``embed_dims, inner_dims, num_layers, num_heads, inner_num_heads``.
        in_channels: image channels.
        patch_size: patch side in pixels.
        inner_stride: stride of the word convolution (4 gives 4x4 words per 16x16 patch).
        pretrain_img_size: image side (or (h, w)) the stored patch position grid belongs to.
        out_indices: blocks whose patch tokens are returned as (B, C, ceil(H/16), ceil(W/16)) maps.
            Blocks after the last index requested here or in ``pixel_out_indices`` are not run
            (and get no gradient).
        pixel_out_indices: blocks whose word tokens are returned as well, as
            (B, inner_dims, 4 * ceil(H/16), 4 * ceil(W/16)) maps (stride 4), after the patch maps.
        final_norm: apply the final norm to the last block's patch map.
        mlp_ratio: outer MLP hidden ratio (the inner one is 4).
        qkv_bias: bias in the qkv projections.
        drop_rate: dropout after projections and on the position embedding.
        attn_drop_rate: dropout on attention weights.
        drop_path_rate: stochastic depth, rising linearly to this value over the blocks.
        with_se: TNT's squeeze-and-excitation in the outer MLP branch.
        legacy: the legacy TNT (whole-image word convolution, per-word norm + bias in the
            word-to-patch projection) of timm's ``tnt_s_legacy_patch16_224`` and mmpretrain.
        fused_attn: attention kernel: True (``scaled_dot_product_attention``), False (the manual
            softmax path) or ``'auto'`` (default: SDPA, except where the manual kernel is faster
            on a CPU, docs/advanced/speed.md). The kernels agree to float32 rounding, not bit
            for bit: the tests hold outputs within 1e-5 and gradients within 1e-4 relative.
        window_size: 0 keeps every outer attention global; otherwise patches attend within
            windows of ``window_size`` patches a side (the grid padded to fit, the class token
            global), except in the blocks of ``global_attn_indices`` (ViTDet).
        global_attn_indices: blocks whose outer attention stays global when ``window_size`` > 0.
        with_cp: gradient checkpointing of every block while training.
        frozen_stages: -1 trains everything; 0 freezes the stem (pixel embedding, position
            encodings, class token, first projection); k >= 1 also freezes blocks 0..k-1, and
            ``num_layers`` the final norm too. Frozen parts stay in eval mode.
        norm_cfg: normalisation config.
        act_cfg: MLP activation config.
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=...)`` for an official, timm (current
            or legacy), mmpretrain or mmtnt TNT checkpoint; it is converted on load and its
            position grid resampled.
    """

    arch_name = 'TNT'
    arch_zoo = ARCH_SETTINGS
    arch_keys = frozenset(ARCH_SETTINGS['s'])

    def __init__(self,
                 arch: Union[str, Dict[str, int]] = 's',
                 in_channels: int = 3,
                 patch_size: int = 16,
                 inner_stride: int = 4,
                 pretrain_img_size: Union[int, Tuple[int, int]] = 224,
                 out_indices: Union[int, Sequence[int]] = -1,
                 pixel_out_indices: Union[int, Sequence[int]] = (),
                 final_norm: bool = True,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 with_se: bool = False,
                 legacy: bool = False,
                 fused_attn: FusedAttn = 'auto',
                 window_size: int = 0,
                 global_attn_indices: Sequence[int] = (),
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='LN'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(arch, in_channels, frozen_stages, drop_path_rate, norm_cfg, with_cp,
                         init_cfg)
        embed_dims = self.embed_dims = self.arch_settings['embed_dims']
        inner_dims = self.inner_dims = self.arch_settings['inner_dims']
        self.num_layers = num_layers = self.arch_settings['num_layers']
        self.out_indices, self.pixel_out_indices = self._output_indices(
            out_indices, pixel_out_indices, 'pixel_out_indices')
        if not isinstance(window_size, int) or window_size < 0:
            raise ValueError(f'window_size must be an int >= 0 (0: global attention), got '
                             f'{window_size!r}.')
        self.window_size = window_size
        self.global_attn_indices = normalize_indices(global_attn_indices, num_layers,
                                                     'global_attn_indices')
        if self.global_attn_indices and not window_size:
            raise ValueError(f'global_attn_indices={tuple(global_attn_indices)} only applies with '
                             f'windowed attention: set window_size > 0 (e.g. 14), or drop '
                             f'global_attn_indices (every block is global without windows).')
        self.legacy = legacy
        self.pos_grid = self._pretrain_grid(pretrain_img_size, patch_size)
        norm_layer = norm_builder(norm_cfg)
        act_layer = build_activation_layer(act_cfg).__class__

        self.pixel_embed = PixelEmbed(in_channels, inner_dims, patch_size, inner_stride, legacy)
        num_words = self.pixel_embed.num_words
        word_h, word_w = self.pixel_embed.word_grid
        self.pixel_pos = nn.Parameter(torch.zeros(1, inner_dims, word_h, word_w))
        self.stem_proj = WordToPatch(inner_dims, num_words, embed_dims, bias=True,
                                     norm_layer=norm_layer)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.patch_pos = nn.Parameter(
            torch.zeros(1, 1 + self.pos_grid[0] * self.pos_grid[1], embed_dims))
        self.pos_drop = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, num_layers).tolist()
        self.blocks = nn.ModuleList([
            TNTBlock(
                inner_dims, embed_dims, num_words,
                inner_num_heads=self.arch_settings['inner_num_heads'],
                outer_num_heads=self.arch_settings['num_heads'],
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                attn_drop=attn_drop_rate, drop_path=dpr[i], act_layer=act_layer,
                norm_layer=norm_layer, with_se=with_se, legacy=legacy, fused_attn=fused_attn,
                window_size=0 if i in self.global_attn_indices else window_size)
            for i in range(num_layers)
        ])
        self.norm = norm_layer(embed_dims) if final_norm else nn.Identity()
        self._init_default_weights()
        self._freeze_stages()

    @staticmethod
    def _count_stages(arch: Dict[str, int]) -> int:
        return arch['num_layers']

    # ------------------------------------------------------------------ weights
    def _init_default_weights(self) -> None:
        """timm / official TNT initialisation: truncated normal (std .02) for linear layers and
        embeddings, zero biases, unit LayerNorms."""
        trunc_normal_(self.cls_token, std=.02)
        trunc_normal_(self.patch_pos, std=.02)
        trunc_normal_(self.pixel_pos, std=.02)
        init_transformer_weights(self)

    def load_pretrained(self, filename: str) -> None:
        """Load a TNT checkpoint of any supported layout, logging every key that did not match.

        ``filename`` is a local path, an http(s) URL or a ``hf-hub:`` id, read through mmtnt's
        safe loading (:mod:`mmtnt.checkpoint.load`): ``.pth`` / ``.pth.tar`` / ``.safetensors``.

        Raises:
            ValueError: the file cannot be read, is not a TNT checkpoint, or its variant or sizes
                do not fit this backbone. The message names the file.
        """
        def adapt(state: Dict[str, torch.Tensor], result: ConvertResult) -> None:
            is_legacy = result.layout in LEGACY_LAYOUTS
            if is_legacy != self.legacy and result.layout != 'mmtnt':
                raise ValueError(f'it holds {result.layout!r} TNT weights; build the backbone '
                                 f'with legacy={is_legacy} to load them.')
            pos = state.get('patch_pos')
            if pos is not None and pos.shape != self.patch_pos.shape:
                grid = self._square_grid(pos.shape[1] - 1, 'patch_pos')  # after the class token
                state['patch_pos'] = resample_patch_pos(pos, self.pos_grid, grid)

        load_backbone_checkpoint(self, filename, convert_tnt_checkpoint, adapt)

    # ------------------------------------------------------------------ training
    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: List[nn.Module] = [self.pixel_embed, self.stem_proj]
        frozen += list(self.blocks[:self.frozen_stages])
        if self.frozen_stages == self.num_stages:
            frozen.append(self.norm)
        freeze(frozen, (self.pixel_pos, self.patch_pos, self.cls_token))

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Extract features.

        Args:
            x: (B, in_channels, H, W) images of any size.

        Returns:
            One (B, embed_dims, ceil(H/16), ceil(W/16)) map per ``out_indices`` entry, then one
            (B, inner_dims, 4 * ceil(H/16), 4 * ceil(W/16)) map per ``pixel_out_indices`` entry.
        """
        x = check_image_batch(x, self.in_channels, 'TNTBackbone', self.cls_token)
        B = x.shape[0]
        words, grid = self.pixel_embed(x)
        words = words + self.pixel_pos.flatten(2).transpose(1, 2)
        patches = self.stem_proj(words, B)
        patches = torch.cat([self.cls_token.expand(B, -1, -1), patches], dim=1)
        patches = self.pos_drop(patches + resample_patch_pos(self.patch_pos, grid, self.pos_grid))

        outs, pixel_outs = [], []
        last = max(self.out_indices + self.pixel_out_indices)
        for i, block in enumerate(self.blocks[:last + 1]):
            words, patches = self._run_block(block, words, patches, grid)
            if i in self.out_indices:
                out = self.norm(patches) if i == self.num_layers - 1 else patches
                outs.append(out[:, 1:].reshape(B, grid[0], grid[1], -1).permute(0, 3, 1, 2)
                            .contiguous())
            if i in self.pixel_out_indices:
                pixel_outs.append(words_to_map(words, grid, self.pixel_embed.word_grid).contiguous())
        return tuple(outs + pixel_outs)
