"""What TNTBackbone and PyramidTNT share: argument and input checks (a wrong value gets a
ValueError / TypeError that says what was wrong and what to do, never an error from deep inside)
and freezing."""
from typing import Iterable, List, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from mmtnt.layers.export import is_exporting


def normalize_indices(indices: Union[int, Sequence[int]],
                      num: int,
                      name: str,
                      what: str = 'blocks',
                      allow_empty: bool = True) -> List[int]:
    """Turn an int or sequence of indices (negative counting from the end) into a sorted list.

    Raises:
        TypeError: not an int or a sequence of ints.
        ValueError: an index out of range, or an empty sequence where one is needed.
    """
    if isinstance(indices, int):
        indices = [indices]
    if not isinstance(indices, Sequence) or not all(isinstance(i, int) for i in indices):
        raise TypeError(f'{name} must be an int or a sequence of ints, got {indices!r}.')
    if not indices and not allow_empty:
        raise ValueError(f'{name} is empty: name at least one of the {num} {what} (0..{num - 1}, '
                         f'or -1 for the last) whose features the backbone should return.')
    out = []
    for i in indices:
        if not -num <= i < num:
            raise ValueError(f'{name} has {i}, out of range for {num} {what}: use 0..{num - 1} '
                             f'(or negative indices counting from the end).')
        out.append(i % num)
    return sorted(set(out))


def check_drop_path_rate(rate: float) -> None:
    if not isinstance(rate, (int, float)) or not 0. <= rate < 1.:
        raise ValueError(f'drop_path_rate must be a number in [0, 1) (the largest stochastic-depth '
                         f'probability, reached by the last block), got {rate!r}.')


def check_token_norm(norm_cfg: dict, name: str = 'norm_cfg') -> None:
    """The transformer norms act on (B, N, C) tokens: only LayerNorm-like layers fit."""
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise TypeError(f'{name} must be a dict with a "type", e.g. dict(type="LN"), got '
                        f'{norm_cfg!r}.')
    layer = build_norm_layer(norm_cfg, 8)[1]
    if not isinstance(layer, nn.LayerNorm):
        raise ValueError(f'{name}={norm_cfg!r} builds a {type(layer).__name__}, which cannot '
                         f'normalise (B, N, C) tokens; use a token norm: dict(type="LN").')


def check_image_batch(x, in_channels: int, name: str, param: torch.Tensor) -> torch.Tensor:
    """Check a (B, C, H, W) image batch; return it in the dtype of the backbone's weights.

    Floating inputs of another precision (float64, float16 with fp32 weights) are cast, which
    gives the weights' result; under autocast they are left to autocast.

    Raises:
        TypeError: not a tensor, or not floating point (e.g. raw uint8 images).
        ValueError: not 4-D, wrong channel count, an empty batch or an empty image.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'{name} expects a torch.Tensor, got {type(x).__name__}.')
    if x.dim() != 4:
        raise ValueError(f'{name} expects a 4-D (B, C, H, W) image tensor, got shape '
                         f'{tuple(x.shape)}; add a batch dimension with x[None] for one image.')
    if not x.is_floating_point():
        raise TypeError(f'{name} expects normalised floating-point images, got {x.dtype}: '
                        f'normalise raw images first (the detector / segmentor data_preprocessor '
                        f'does), e.g. ((x.float() - 127.5) / 127.5).')
    if not is_exporting():  # exported, the sizes are graph values: checked when run eagerly
        if x.shape[1] != in_channels:
            raise ValueError(f'{name} was built for in_channels={in_channels}, but the input has '
                             f'{x.shape[1]} channels (shape {tuple(x.shape)}).')
        if x.shape[0] == 0:
            raise ValueError(f'{name} got an empty batch (shape {tuple(x.shape)}): pass at least '
                             f'one image.')
        if x.shape[2] < 1 or x.shape[3] < 1:
            raise ValueError(f'{name} got an empty image of shape {tuple(x.shape)}.')
    if x.dtype != param.dtype and not torch.is_autocast_enabled(x.device.type):
        x = x.to(param.dtype)
    return x


def freeze(modules: Iterable[nn.Module], params: Iterable[nn.Parameter] = ()) -> None:
    """Put ``modules`` in eval mode and stop gradients to their parameters and to ``params``."""
    for p in params:
        p.requires_grad = False
    for m in modules:
        m.eval()
        for p in m.parameters():
            p.requires_grad = False


def init_transformer_weights(module: nn.Module) -> None:
    """timm / official TNT initialisation of every linear layer and LayerNorm in ``module``:
    truncated normal (std .02) weights, zero biases, unit norms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PretrainedBackbone(BaseModule):
    """``init_weights`` loads ``init_cfg=dict(type='Pretrained', checkpoint=...)`` through the
    subclass's :meth:`load_pretrained` (any of its layouts, resampled); ``train`` keeps the frozen
    parts frozen (:meth:`_freeze_stages`)."""

    def load_pretrained(self, filename: str) -> None:
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        raise NotImplementedError

    def init_weights(self) -> None:
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self.load_pretrained(self.init_cfg['checkpoint'])
            self._is_init = True
        else:
            super().init_weights()

    def train(self, mode: bool = True) -> 'PretrainedBackbone':
        super().train(mode)
        self._freeze_stages()
        return self
