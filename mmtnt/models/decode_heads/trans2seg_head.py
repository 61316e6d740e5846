"""Trans2Seg's decode head (Xie et al., "Segmenting Transparent Objects in the Wild with
Transformer", IJCAI 2021) for MMSegmentation: the segmentation recipe of the TNT paper."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import (ConvModule, DepthwiseSeparableConvModule, build_activation_layer,
                      build_norm_layer)
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.decode_heads.decode_head import BaseDecodeHead

from mmtnt.layers import (PrototypeAttention, PrototypeDecoderLayer, TransformerLayer,
                          add_shared, is_exporting, prototype_maps, resample_patch_pos,
                          split_pointwise)
from mmtnt.models.backbones.common import check_drop_path_rate, init_transformer_weights
from mmtnt.registry import MODELS


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_ints(value, name: str, what: str) -> Tuple[int, int]:
    if (not isinstance(value, Sequence) or len(value) != 2
            or not all(_is_positive_int(v) for v in value)):
        raise ValueError(f'Trans2SegHead {name} must be 2 positive ints ({what}), got {value!r}.')
    return tuple(value)


@MODELS.register_module(force=True)  # in place of the deferred entry
class Trans2SegHead(BaseDecodeHead):
    """Trans2Seg: a transformer encoder over a coarse map, class prototypes decoding it, and a
    convolutional head turning each class's attention maps into its mask.

    1. The coarse map (stride 16 or 32) is projected to ``embed_dims`` tokens, given a learned
       position grid (resampled to the input's grid: any input size) and encoded by
       ``num_layers`` pre-norm transformer layers.
    2. One learned prototype per class (``num_classes`` of them) reads the tokens through
       ``num_layers`` decoder layers (cross-attention, MLP); the last layer's attention logits
       are, for each class, ``num_heads`` maps over the image.
    3. Per class, the encoded map and that class's attention maps go through a depthwise-separable
       convolution to ``channels``, a second one, are upsampled to the fine map (stride 4), added
       to the fine map's 1x1 projection, convolved a third time and reduced by ``conv_seg`` to the
       class's one logit map.

    The first convolution of step 3 runs the class-independent part (the encoded map) once per
    image: equal to convolving the per-class concatenation, without building it.

    Args:
        in_channels: (fine, coarse) channels: the stride-4 map fused into the masks and the map
            the transformer reads, selected by ``in_index`` from the backbone / neck outputs.
        channels: width of the per-class convolutional head (Trans2Seg's ``hid_dim``).
        in_index: indices of the (fine, coarse) maps in the backbone / neck outputs.
        embed_dims: transformer width.
        num_layers: encoder layers, and decoder layers (the last gives the attention maps).
        num_heads: attention heads; also the number of attention maps each class passes on.
        mlp_ratio: transformer MLP hidden channels / ``embed_dims``.
        pos_grid: (h, w) the learned position grid is stored at (the training crop / the coarse
            map's stride); resampled bicubically to each input's grid.
        drop_path_rate: stochastic depth, rising linearly over the layers to this value.
        norm_cfg: normalisation of the convolutional head.
        **kwargs: :class:`~mmseg.models.decode_heads.decode_head.BaseDecodeHead`'s (num_classes,
            dropout_ratio before ``conv_seg``, act_cfg, align_corners, loss_decode, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int = 64,
                 in_index: Sequence[int] = (0, 1),
                 embed_dims: int = 256,
                 num_layers: int = 4,
                 num_heads: int = 8,
                 mlp_ratio: float = 3.,
                 pos_grid: Sequence[int] = (32, 32),
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 **kwargs) -> None:
        num_classes = kwargs.get('num_classes')
        if not _is_positive_int(num_classes):
            raise ValueError(f'Trans2SegHead num_classes must be a positive int (one prototype '
                             f'per class, e.g. 150 for ADE20K), got {num_classes!r}.')
        in_channels = _positive_ints(in_channels, 'in_channels',
                                     'channels of the fine (stride 4) and coarse maps')
        if (not isinstance(in_index, Sequence) or len(in_index) != 2
                or not all(isinstance(i, int) for i in in_index)):
            raise ValueError(f'Trans2SegHead in_index must be 2 ints (positions of the fine and '
                             f'the coarse map in the backbone / neck outputs), got {in_index!r}.')
        kwargs.setdefault('input_transform', 'multiple_select')
        if kwargs['input_transform'] != 'multiple_select':
            raise ValueError("Trans2SegHead reads two maps of different strides: input_transform "
                             f"must be 'multiple_select', got {kwargs['input_transform']!r}.")
        for name, value in (('channels', channels), ('embed_dims', embed_dims),
                            ('num_layers', num_layers), ('num_heads', num_heads)):
            if not _is_positive_int(value):
                raise ValueError(f'Trans2SegHead {name} must be a positive int, got {value!r}.')
        if embed_dims % num_heads:
            raise ValueError(f'Trans2SegHead embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}.')
        pos_grid = _positive_ints(pos_grid, 'pos_grid',
                                  "the coarse map's (h, w) at the training crop size")
        check_drop_path_rate(drop_path_rate)
        super().__init__(list(in_channels), channels, in_index=list(in_index),
                         norm_cfg=norm_cfg, **kwargs)
        self.pos_grid = pos_grid

        # 1. encoder
        fine_channels, coarse_channels = in_channels
        self.input_proj = nn.Linear(coarse_channels, embed_dims)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1],
                                                  embed_dims))
        rates = torch.linspace(0, drop_path_rate, num_layers).tolist()
        self.encoder = nn.ModuleList([
            TransformerLayer(embed_dims, num_heads, mlp_ratio, drop_path=r) for r in rates])
        self.encoder_norm = nn.LayerNorm(embed_dims)
        # 2. decoder: the prototypes, the layers updating them, the last layer's maps
        self.prototypes = nn.Parameter(torch.zeros(1, self.out_channels, embed_dims))
        self.decoder = nn.ModuleList([
            PrototypeDecoderLayer(embed_dims, num_heads, mlp_ratio, drop_path=r)
            for r in rates[:-1]])
        self.maps_norm_q = nn.LayerNorm(embed_dims)
        self.maps_norm_tokens = nn.LayerNorm(embed_dims)
        self.maps = PrototypeAttention(embed_dims, num_heads, with_output=False)
        # 3. per-class convolutional head: the first depthwise-separable convolution split into
        # its class-independent part (encoded map) and per-class part (attention maps)
        conv = dict(conv_cfg=self.conv_cfg, norm_cfg=norm_cfg, act_cfg=self.act_cfg)
        self.tokens_dw = ConvModule(embed_dims, embed_dims, 3, padding=1, groups=embed_dims, **conv)
        self.maps_dw = ConvModule(num_heads, num_heads, 3, padding=1, groups=num_heads, **conv)
        self.fuse_pw = nn.Conv2d(embed_dims + num_heads, channels, 1, bias=norm_cfg is None)
        self.fuse_norm = build_norm_layer(norm_cfg, channels)[1] if norm_cfg else nn.Identity()
        self.fuse_act = build_activation_layer(self.act_cfg)
        self.coarse_conv = DepthwiseSeparableConvModule(channels, channels, 3, padding=1, **conv)
        self.fine_proj = ConvModule(fine_channels, channels, 1, **conv)
        self.fine_conv = DepthwiseSeparableConvModule(channels, channels, 3, padding=1, **conv)
        # one logit map per (image, class): conv_seg is shared by the classes
        self.conv_seg = nn.Conv2d(channels, 1, 1)

    def init_weights(self) -> None:
        super().init_weights()  # conv_seg: BaseDecodeHead's init_cfg
        init_transformer_weights(self)  # every nn.Linear / nn.LayerNorm of the transformer
        trunc_normal_(self.pos_embed, std=.02)
        trunc_normal_(self.prototypes, std=.02)

    def _check_inputs(self, fine: torch.Tensor, coarse: torch.Tensor) -> None:
        got = (fine.shape[1], coarse.shape[1])
        if got != tuple(self.in_channels):
            raise ValueError(
                f'Trans2SegHead was built for in_channels={tuple(self.in_channels)} (fine, '
                f'coarse) but in_index={tuple(self.in_index)} selects maps of {got} channels: set '
                f'in_channels to the widths of those backbone / neck outputs.')
        if fine.shape[-1] < coarse.shape[-1] or fine.shape[-2] < coarse.shape[-2]:
            raise ValueError(
                f'Trans2SegHead expects in_index=(fine, coarse): the first map '
                f'{tuple(fine.shape[-2:])} is coarser than the second {tuple(coarse.shape[-2:])}.')

    def encode(self, coarse: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) coarse map -> (B, h * w, embed_dims) encoded tokens."""
        grid = coarse.shape[-2:]
        x = self.input_proj(coarse.flatten(2).transpose(1, 2))
        x = x + resample_patch_pos(self.pos_embed, grid, self.pos_grid, num_prefix_tokens=0)
        for layer in self.encoder:
            x = layer(x)
        return self.encoder_norm(x)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, embed_dims) tokens -> (B, heads, K, N) attention logits of the K prototypes."""
        queries = self.prototypes.expand(tokens.shape[0], -1, -1)
        for layer in self.decoder:
            queries, _ = layer(queries, tokens)
        return self.maps(self.maps_norm_q(queries), self.maps_norm_tokens(tokens))

    def masks(self, tokens: torch.Tensor, logits: torch.Tensor, fine: torch.Tensor,
              grid: Tuple[int, int]) -> torch.Tensor:
        """Per-class features at the fine map's size: (B * K, channels, H, W)."""
        num_classes = logits.shape[2]
        token_map = tokens.transpose(1, 2).unflatten(2, grid)
        x = split_pointwise(self.tokens_dw(token_map), self.maps_dw(prototype_maps(logits, grid)),
                            self.fuse_pw.weight, num_classes)
        if self.fuse_pw.bias is not None:
            x = x + self.fuse_pw.bias[:, None, None]
        x = self.coarse_conv(self.fuse_act(self.fuse_norm(x)))
        x = F.interpolate(x, size=fine.shape[-2:], mode='bilinear',
                          align_corners=self.align_corners)
        x = add_shared(x, self.fine_proj(fine), num_classes)
        return self.fine_conv(x)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """Backbone / neck outputs -> (B, num_classes, H, W) logits at the fine map's size."""
        fine, coarse = self._transform_inputs(inputs)
        if not is_exporting():
            self._check_inputs(fine, coarse)
        grid = coarse.shape[-2:]
        tokens = self.encode(coarse)
        x = self.cls_seg(self.masks(tokens, self.decode(tokens), fine, grid))
        return x.reshape(fine.shape[0], -1, *x.shape[-2:])
