"""PyramidTNT (Han, Guo, Tang, Wang 2022): the TNT authors' pyramid backbone for dense prediction."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmengine.model.weight_init import trunc_normal_

from mmtnt.checkpoint.backbone import load_backbone_checkpoint
from mmtnt.checkpoint.convert import ConvertResult, convert_pyramid_tnt_checkpoint
from mmtnt.layers import (FusedAttn, PyramidStem, PyramidTNTStage, SentenceAggregation,
                          WordAggregation, pad_to_multiple, resample_patch_pos, resample_rel_pos,
                          words_to_map)
from mmtnt.registry import MODELS
from .common import BaseBackbone, check_image_batch, freeze, init_transformer_weights, norm_builder


def _widths(depths: List[int], outer: int, inner: int, heads: int, inner_heads: int,
            img_size: int) -> dict:
    """The official arch rule: widths and heads double from stage 0 to 2, stage 3 as stage 2."""
    x = (1, 2, 4, 4)
    return dict(depths=depths, outer_dims=[outer * m for m in x], inner_dims=[inner * m for m in x],
                outer_heads=[heads * m for m in x], inner_heads=[inner_heads * m for m in x],
                img_size=img_size)


ARCH_SETTINGS: Dict[str, dict] = {
    # ImageNet top-1 / params (paper): Ti 75.2 / 10.6M, S 82.0 / 32.0M, M 83.5 / 85.0M,
    # B 84.1 / 157.0M; img_size: the pretraining size of the official weights
    'ti': _widths([2, 6, 3, 2], 80, 5, 2, 1, img_size=192),
    's': _widths([2, 8, 4, 2], 128, 8, 4, 2, img_size=256),
    'm': _widths([2, 8, 6, 2], 192, 12, 4, 2, img_size=256),
    'b': _widths([2, 10, 6, 2], 256, 16, 4, 2, img_size=256),
}
SR_RATIOS = (4, 2, 1, 1)
STEM_STRIDE = 8


@MODELS.register_module()
class PyramidTNT(BaseBackbone):
    """PyramidTNT backbone for any input size.

    A convolutional stem gives stride-8 patches of 4 x 4 stride-2 words; four stages of TNT
    blocks (spatial-reduction outer attention with a learned relative position bias, an inner
    transformer in the first block(s)) run at strides 8 / 16 / 32 / 64, with word and sentence
    aggregation between them. Inputs are zero-padded (bottom / right) to multiples of 8; odd
    grids are padded at the word aggregation as the official code does; the patch position grid
    and every stage's (query grid) x (key grid) bias are resampled (bicubic, fp32) from the
    pretraining size to the input's.

    Args:
        arch: 'ti', 's', 'm', 'b', or a dict with ``depths, outer_dims, inner_dims,
            outer_heads, inner_heads`` (four entries each).
        in_channels: image channels.
        pretrain_img_size: image side (or (h, w)) of the stored position tables; None takes the
            arch's (192 for 'ti', 256 otherwise).
        out_indices: stages whose patch tokens are returned as (B, C_i, ceil(H / 2^(i+3)),
            ceil(W / 2^(i+3))) maps, i.e. strides 8 / 16 / 32 / 64. Stages after the last index
            requested here or in ``word_out_indices`` are not run.
        word_out_indices: stages whose word tokens are returned as well, as (B, inner_dim_i,
            4 * h_i, 4 * w_i) maps (strides 2 / 4 / 8 / 16), after the patch maps.
        final_norm: apply the final norm to the last stage's map.
        mlp_ratio: MLP hidden ratio.
        qkv_bias: bias in the q / kv projections.
        drop_rate: dropout after projections and on the position encoding.
        attn_drop_rate: dropout on attention weights.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        fused_attn: attention kernel: True (``scaled_dot_product_attention``), False (the manual
            softmax path) or ``'auto'`` (default: SDPA, except where the manual kernel is faster
            on a CPU, docs/advanced/speed.md). The kernels agree to float32 rounding, not bit
            for bit: the tests hold outputs within 1e-4.
        with_cp: gradient checkpointing of every block while training.
        frozen_stages: -1 trains everything; 0 freezes the stem and position encodings; k >= 1
            also stages 0..k-1 and the aggregations before them; 4 the final norm too. Frozen
            parts stay in eval mode (the stem's BatchNorm included).
        norm_cfg: token normalisation (a LayerNorm type).
        stem_norm_cfg: the stem convolutions' normalisation (BN officially).
        act_cfg: MLP activation.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` for an official ``ptnt_*`` or an
            mmtnt checkpoint (path, URL or ``hf-hub:`` id, loaded safely); converted on load and
            its position tables resampled.
    """

    arch_name = 'PyramidTNT'
    arch_zoo = ARCH_SETTINGS
    arch_keys = frozenset({'depths', 'outer_dims', 'inner_dims', 'outer_heads', 'inner_heads'})
    optional_arch_keys = frozenset({'img_size'})
    stage_unit = 'stages'

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 pretrain_img_size: Optional[Union[int, Tuple[int, int]]] = None,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 word_out_indices: Union[int, Sequence[int]] = (),
                 final_norm: bool = True,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 fused_attn: FusedAttn = 'auto',
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='LN'),
                 stem_norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(arch, in_channels, frozen_stages, drop_path_rate, norm_cfg, with_cp,
                         init_cfg)
        arch = self.arch_settings
        self.out_indices, self.word_out_indices = self._output_indices(
            out_indices, word_out_indices, 'word_out_indices')
        self.out_channels = [arch['outer_dims'][i] for i in self.out_indices] + \
            [arch['inner_dims'][i] for i in self.word_out_indices]
        if pretrain_img_size is None:
            pretrain_img_size = arch.get('img_size', 256)
        self.pos_grid = self._pretrain_grid(pretrain_img_size, STEM_STRIDE)
        norm_layer = norm_builder(norm_cfg)
        act_layer = build_activation_layer(act_cfg).__class__
        outer, inner = arch['outer_dims'], arch['inner_dims']
        self.stem = PyramidStem(in_channels, outer[0], inner[0],
                                norm_layer=norm_builder(stem_norm_cfg))
        self.outer_pos = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1],
                                                  outer[0]))
        self.inner_pos = nn.Parameter(torch.zeros(1, 16, inner[0]))
        self.pos_drop = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, sum(arch['depths'])).tolist()
        self.word_merges = nn.ModuleList()
        self.sentence_merges = nn.ModuleList()
        self.stages = nn.ModuleList()
        grid, first = self.pos_grid, 0
        for i, depth in enumerate(arch['depths']):
            if i > 0:
                self.word_merges.append(WordAggregation(inner[i - 1], inner[i], norm_layer))
                self.sentence_merges.append(SentenceAggregation(outer[i - 1], outer[i],
                                                                norm_layer))
                grid = (math.ceil(grid[0] / 2), math.ceil(grid[1] / 2))
            self.stages.append(PyramidTNTStage(
                depth, outer[i], inner[i], arch['outer_heads'][i], arch['inner_heads'][i],
                sr_ratio=SR_RATIOS[i], pos_grid=grid, drop_path=dpr[first:first + depth],
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                attn_drop=attn_drop_rate, act_layer=act_layer, norm_layer=norm_layer,
                fused_attn=fused_attn))
            first += depth
        self.norm = norm_layer(outer[-1]) if final_norm else nn.Identity()
        self._init_default_weights()
        self._freeze_stages()

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        if any(len(arch[k]) != 4 for k in cls.arch_keys):
            raise ValueError(f'A custom PyramidTNT arch needs four entries (one per stage) '
                             f'for each of {sorted(cls.arch_keys)}; got {arch}.')

    @staticmethod
    def _count_stages(arch: dict) -> int:
        return len(arch['depths'])

    # ------------------------------------------------------------------ weights
    def _init_default_weights(self) -> None:
        """The official initialisation: truncated normal (std .02) for linear layers and the
        position encodings, He-normal (fan-out) convolutions, unit norms; the relative position
        biases keep their standard-normal init."""
        trunc_normal_(self.outer_pos, std=.02)
        trunc_normal_(self.inner_pos, std=.02)
        init_transformer_weights(self)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def load_pretrained(self, filename: str) -> None:
        """Load an official ``ptnt_*`` or mmtnt PyramidTNT checkpoint, resampling its position
        grid and relative position biases if it was trained at another size.

        Raises:
            ValueError: unreadable, not PyramidTNT, or not fitting this arch; names the file.
        """

        def adapt(state: Dict[str, torch.Tensor], result: ConvertResult) -> None:
            pos = state.get('outer_pos')
            if pos is not None and pos.shape != self.outer_pos.shape:
                grid = self._square_grid(pos.shape[1], 'outer_pos')
                state['outer_pos'] = resample_patch_pos(pos, self.pos_grid, grid, 0)
            for i, stage in enumerate(self.stages):
                key = f'stages.{i}.relative_pos'
                bias = state.get(key)
                if bias is None or bias.shape == stage.relative_pos.shape:
                    continue
                state[key] = resample_rel_pos(
                    bias, stage.pos_grid, stage.key_grid,
                    self._square_grid(bias.shape[2], f'{key} (query grid)'),
                    self._square_grid(bias.shape[3], f'{key} (key grid)'))

        load_backbone_checkpoint(self, filename, convert_pyramid_tnt_checkpoint, adapt)

    # ------------------------------------------------------------------ training
    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: List[nn.Module] = [self.stem]
        for i in range(self.frozen_stages):
            frozen.append(self.stages[i])
            if i > 0:
                frozen += [self.word_merges[i - 1], self.sentence_merges[i - 1]]
        if self.frozen_stages == self.num_stages:
            frozen.append(self.norm)
        freeze(frozen, (self.outer_pos, self.inner_pos))

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Extract features.

        Args:
            x: (B, in_channels, H, W) images of any size.

        Returns:
            One (B, outer_dims[i], h_i, w_i) map per ``out_indices`` entry, h_0 = ceil(H / 8) and
            halved (ceil) per stage, then one (B, inner_dims[i], 4 h_i, 4 w_i) word map per
            ``word_out_indices`` entry.
        """
        x = check_image_batch(x, self.in_channels, 'PyramidTNT', self.outer_pos)
        B = x.shape[0]
        words, patches, grid = self.stem(pad_to_multiple(x, STEM_STRIDE))
        words = words + self.inner_pos
        patches = patches + self.pos_drop(resample_patch_pos(self.outer_pos, grid, self.pos_grid,
                                                             0))
        outs, word_outs = [], []
        last = max(self.out_indices + self.word_out_indices)
        for i, stage in enumerate(self.stages[:last + 1]):
            if i > 0:
                words = self.word_merges[i - 1](words, grid, B)
                patches, grid = self.sentence_merges[i - 1](patches, grid)
            bias = stage.bias_for(grid)  # once per stage, shared by its blocks
            if torch.is_autocast_enabled(x.device.type):  # cast once, not in every block
                bias = bias.to(torch.get_autocast_dtype(x.device.type))
            for block in stage.blocks:
                words, patches = self._run_block(block, words, patches, grid, bias)
            if i in self.out_indices:
                out = self.norm(patches) if i == len(self.stages) - 1 else patches
                outs.append(out.reshape(B, grid[0], grid[1], -1).permute(0, 3, 1, 2).contiguous())
            if i in self.word_out_indices:
                word_outs.append(words_to_map(words, grid, (4, 4)).contiguous())
        return tuple(outs + word_outs)
