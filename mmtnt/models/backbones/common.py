"""What TNTBackbone and PyramidTNT share: their base class (arch parsing, argument checks,
gradient checkpointing, pretrained loading and freezing), argument and input checks (a wrong value
gets a ValueError / TypeError that says what was wrong and what to do, never an error from deep
inside) and weight initialisation."""
from typing import Callable, Dict, FrozenSet, Iterable, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch.utils.checkpoint import checkpoint

from mmtnt.layers.export import is_exporting


def normalize_indices(indices: Union[int, Sequence[int]],
                      num: int,
                      name: str,
                      what: str = 'blocks') -> List[int]:
    """Turn an int or sequence of indices (negative counting from the end) into a sorted list.

    Raises:
        TypeError: not an int or a sequence of ints.
        ValueError: an index out of range.
    """
    if isinstance(indices, int):
        indices = [indices]
    if not isinstance(indices, Sequence) or not all(isinstance(i, int) for i in indices):
        raise TypeError(f'{name} must be an int or a sequence of ints, got {indices!r}.')
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


def norm_builder(norm_cfg: dict) -> Callable[[int], nn.Module]:
    """``norm_cfg`` as a ``norm_layer(num_features)`` factory, the form the layers take."""
    return lambda dim: build_norm_layer(norm_cfg, dim)[1]


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


class BaseBackbone(BaseModule):
    """The base of TNTBackbone and PyramidTNT.

    ``__init__`` parses ``arch`` (a preset name of :attr:`arch_zoo` or a dict of
    :attr:`arch_keys`) into ``self.arch_settings`` (``self.num_stages``: the blocks / stages
    that ``out_indices`` and ``frozen_stages`` count), checks and stores ``in_channels``,
    ``frozen_stages`` and ``with_cp``, and checks ``drop_path_rate`` and ``norm_cfg``. For the
    subclass: :meth:`_output_indices` checks the features asked for, :meth:`_run_block` runs a
    block (gradient-checkpointed with ``with_cp``), :meth:`_pretrain_grid` and
    :meth:`_square_grid` give the position grids of the model and of a checkpoint.
    ``init_weights`` loads ``init_cfg=dict(type='Pretrained', checkpoint=...)`` through the
    subclass's :meth:`load_pretrained` (any of its layouts, resampled); ``train`` keeps the frozen
    parts frozen (:meth:`_freeze_stages`).

    A subclass sets the class attributes below and implements :meth:`_count_stages`,
    :meth:`load_pretrained` and :meth:`_freeze_stages`.
    """

    #: the arch's name in messages, e.g. 'TNT'
    arch_name: str = ''
    #: preset name (lower case) -> arch settings
    arch_zoo: Dict[str, dict] = {}
    #: the keys a custom arch dict must have, and those it may have besides
    arch_keys: FrozenSet[str] = frozenset()
    optional_arch_keys: FrozenSet[str] = frozenset()
    #: what ``out_indices`` and ``frozen_stages`` count: 'blocks' or 'stages'
    stage_unit: str = 'blocks'

    def __init__(self,
                 arch: Union[str, dict],
                 in_channels: int,
                 frozen_stages: int,
                 drop_path_rate: float,
                 norm_cfg: dict,
                 with_cp: bool,
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        self.num_stages = num = self._count_stages(self.arch_settings)
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}.')
        self.in_channels = in_channels
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= num:
            raise ValueError(f'frozen_stages must be an int in -1..{num} (-1: none, 0: the stem, '
                             f'k: the stem and {self.stage_unit} 0..k-1), got {frozen_stages!r}.')
        self.frozen_stages = frozen_stages
        check_drop_path_rate(drop_path_rate)
        check_token_norm(norm_cfg)
        self.with_cp = with_cp

    # ------------------------------------------------------------------ arguments
    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        """A copy of the preset ``arch`` names, or of the custom ``arch`` dict once checked."""
        keys = sorted(cls.arch_keys)
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(f'Unknown {cls.arch_name} arch {arch!r}: use one of '
                                 f'{sorted(cls.arch_zoo)} or a dict with keys {keys}.')
            return dict(cls.arch_zoo[arch.lower()])
        if isinstance(arch, dict):
            if not cls.arch_keys <= set(arch) <= cls.arch_keys | cls.optional_arch_keys:
                optional = (f' (optionally {", ".join(sorted(cls.optional_arch_keys))})'
                            if cls.optional_arch_keys else '')
                raise ValueError(f'A custom {cls.arch_name} arch needs exactly the keys '
                                 f'{keys}{optional}; got {sorted(arch)}.')
            cls._check_arch(arch)
            return dict(arch)
        raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}.')

    @classmethod
    def _check_arch(cls, arch: dict) -> None:
        """Further checks of a custom arch dict that has the right keys (raise ValueError)."""

    @staticmethod
    def _count_stages(arch: dict) -> int:
        """The number of blocks / stages that ``out_indices`` and ``frozen_stages`` count."""
        raise NotImplementedError

    def _output_indices(self, out_indices: Union[int, Sequence[int]],
                        word_out_indices: Union[int, Sequence[int]],
                        word_out_name: str) -> Tuple[List[int], List[int]]:
        """``out_indices`` and the word features' indices (the argument ``word_out_name``) as
        sorted non-negative lists; at least one feature must be asked for."""
        num = self.num_stages
        out = normalize_indices(out_indices, num, 'out_indices', self.stage_unit)
        word_out = normalize_indices(word_out_indices, num, word_out_name, self.stage_unit)
        if not out and not word_out:
            raise ValueError(f'out_indices and {word_out_name} are both empty: name at least one '
                             f'{self.stage_unit[:-1]} (0..{num - 1}) whose features '
                             f'{type(self).__name__} returns.')
        return out, word_out

    # ------------------------------------------------------------------ position grids
    @staticmethod
    def _pretrain_grid(img_size: Union[int, Sequence[int]], stride: int) -> Tuple[int, int]:
        """The (h, w) grid of stride-``stride`` tokens of an image of side (or (h, w))
        ``img_size``: where the stored position tables belong."""
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        return img_size[0] // stride, img_size[1] // stride

    @staticmethod
    def _square_grid(num: int, name: str) -> Tuple[int, int]:
        """The grid of a checkpoint's position table ``name`` of ``num`` positions: the stored
        grids are square (official, timm, mmpretrain and mmtnt checkpoints)."""
        side = int(round(num**0.5))
        if side * side != num:
            raise ValueError(f'{name} holds {num} grid positions, not a square grid: its height '
                             f'and width cannot be inferred (TNT / PyramidTNT checkpoints store '
                             f'square grids); is this a checkpoint of this backbone?')
        return side, side

    # ------------------------------------------------------------------ weights and training
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

    def train(self, mode: bool = True) -> 'BaseBackbone':
        super().train(mode)
        self._freeze_stages()
        return self

    def _run_block(self, block: nn.Module, *inputs):
        """``block(*inputs)``, gradient-checkpointed (its activations recomputed in the backward
        pass) with ``with_cp`` while training with gradients."""
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint(block, *inputs, use_reentrant=False)
        return block(*inputs)
