"""Neck adapter: TNT's single-stride maps -> a multi-stride pyramid for FPN / UPerHead."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule

from mmtnt.layers import LayerNorm2d, is_exporting
from mmtnt.registry import MODELS

MODELS.register_module('LN2d', module=LayerNorm2d)

SUPPORTED_SCALES = (4, 2, 1, 0.5, 0.25)
DOWNSAMPLE_MODES = ('maxpool', 'avgpool', 'conv')


@MODELS.register_module()
class TNTFeaturePyramid(BaseModule):
    """Simple feature pyramid over TNTBackbone's stride-16 patch maps (ViTDet / mmseg Feature2Pyramid).

    Level ``i`` rescales its input map by ``scales[i]``: 4 -> two 2x2 deconvolutions (norm and
    activation between), 2 -> one deconvolution, 1 -> identity, 0.5 / 0.25 -> ``downsample``
    (max pooling by default; average pooling as the TNT paper's DETR; a strided convolution as its
    Faster R-CNN). Every
    level keeps ``in_channels`` channels, so the FPN / UPerHead that follows takes
    ``[in_channels] * len(scales)``. Level strides are ``16 / scale``.

    With ``pixel_channels`` set, the backbone's last output must be its stride-4 pixel-token map
    (``pixel_out_indices``); it is projected (a conv whose kernel and stride bridge stride 4 to
    the finest level's stride, then a norm) and added to the finest level - TNT's own fine
    features, which a deconvolution of the stride-16 map cannot recover.

    Args:
        in_channels: channels of the patch maps (the backbone's ``embed_dims``).
        scales: rescale factor per output level, from {4, 2, 1, 0.5, 0.25}, finest first.
        downsample: how levels with a scale below 1 shrink the map: 'maxpool', 'avgpool' or
            'conv' (a learned convolution whose kernel and stride are 1 / scale).
        pixel_channels: channels of the pixel-token map (the backbone's ``inner_dims``), or None.
        norm_cfg: normalisation inside the x4 upsampling path and after the pixel projection.
        act_cfg: activation inside the x4 upsampling path.
        init_cfg: mmengine init config.

    Inputs: the backbone's tuple: either one patch map, used for every level, or one per level;
    then the pixel map when ``pixel_channels`` is set.
    """

    def __init__(self,
                 in_channels: int,
                 scales: Sequence[float] = (4, 2, 1, 0.5),
                 pixel_channels: Optional[int] = None,
                 downsample: str = 'maxpool',
                 norm_cfg: dict = dict(type='LN2d'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        scales = tuple(scales)
        bad = [s for s in scales if s not in SUPPORTED_SCALES]
        if bad or not scales:
            raise ValueError(f'TNTFeaturePyramid scales must be non-empty values from '
                             f'{SUPPORTED_SCALES}; got {scales}.')
        if list(scales) != sorted(scales, reverse=True):
            raise ValueError(f'TNTFeaturePyramid scales must go from finest to coarsest, got {scales}.')
        if downsample not in DOWNSAMPLE_MODES:
            raise ValueError(f'TNTFeaturePyramid downsample must be one of {DOWNSAMPLE_MODES}, '
                             f'got {downsample!r}.')
        self.downsample = downsample
        self.in_channels = in_channels
        self.scales = scales
        self.strides = tuple(int(16 / s) for s in scales)
        self.out_channels = [in_channels] * len(scales)
        self.levels = nn.ModuleList([self._make_level(s, norm_cfg, act_cfg) for s in scales])
        self.pixel_channels = pixel_channels
        self.pixel_proj = None
        if pixel_channels is not None:
            k = self.strides[0] // 4  # pixel tokens live at stride 4
            if k < 1:
                raise ValueError('pixel tokens (stride 4) cannot feed a level finer than stride 4.')
            self.pixel_proj = nn.Sequential(
                nn.Conv2d(pixel_channels, in_channels, kernel_size=k, stride=k, bias=False),
                build_norm_layer(norm_cfg, in_channels)[1])

    def _make_level(self, scale: float, norm_cfg: dict, act_cfg: dict) -> nn.Module:
        c = self.in_channels
        if scale == 4:
            return nn.Sequential(
                nn.ConvTranspose2d(c, c, 2, 2), build_norm_layer(norm_cfg, c)[1],
                build_activation_layer(act_cfg), nn.ConvTranspose2d(c, c, 2, 2))
        if scale == 2:
            return nn.ConvTranspose2d(c, c, 2, 2)
        if scale == 1:
            return nn.Identity()
        k = int(1 / scale)
        if self.downsample == 'conv':
            return nn.Conv2d(c, c, kernel_size=k, stride=k)
        pool = nn.MaxPool2d if self.downsample == 'maxpool' else nn.AvgPool2d
        return pool(k, k)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Build the pyramid.

        Returns:
            ``len(scales)`` maps of ``in_channels`` channels at strides ``16 / scale``.
        """
        inputs = list(inputs)
        pixel = inputs.pop() if self.pixel_proj is not None else None
        if len(inputs) not in (1, len(self.scales)):
            raise ValueError(f'TNTFeaturePyramid with {len(self.scales)} levels needs 1 or '
                             f'{len(self.scales)} patch maps (plus the pixel map when '
                             f'pixel_channels is set), got {len(inputs)}.')
        if not is_exporting() and inputs[0].shape[1] != self.in_channels:
            raise ValueError(f'TNTFeaturePyramid was built for in_channels={self.in_channels} '
                             f'(the backbone width), got maps of {inputs[0].shape[1]} channels.')
        if len(inputs) == 1:
            inputs = inputs * len(self.scales)
        outs: List[torch.Tensor] = [level(x) for level, x in zip(self.levels, inputs)]
        if pixel is not None:
            if not is_exporting() and pixel.shape[1] != self.pixel_channels:
                raise ValueError(f'TNTFeaturePyramid expects the last input to be the backbone\'s '
                                 f'pixel-token map with {self.pixel_channels} channels; got '
                                 f'{pixel.shape[1]} channels. Set pixel_out_indices on TNTBackbone.')
            outs[0] = outs[0] + self.pixel_proj(pixel)
        return tuple(outs)
