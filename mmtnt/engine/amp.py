"""Mixed precision on any device: mmengine's ``AmpOptimWrapper`` asserts a CUDA / NPU / MLU device
and its ``autocast`` allows only bfloat16 on a CPU."""
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmtnt.registry import OPTIM_WRAPPERS
from mmtnt.utils.cpu_features import cpu_bf16_missing

_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` for CUDA and CPU alike.

    Args:
        dtype: ``'float16'`` or ``'bfloat16'`` (or the torch dtype). Defaults to float16 on CUDA
            and bfloat16 on a CPU (where only bfloat16 has fast kernels; float16 runs, slowly).
        loss_scale: as ``AmpOptimWrapper``: ``'dynamic'``, an initial scale, or GradScaler
            arguments. Used with float16 only: bfloat16 has float32's exponent range and
            trains without loss scaling.
        device_type: ``'cuda'`` or ``'cpu'``; defaults to CUDA when available. bfloat16 on a
            CPU without native bfloat16 instructions (``mmtnt.utils.cpu_bf16_support``) logs a
            warning: it runs emulated, hundreds of times slower than float32.
        **kwargs: ``OptimWrapper``'s arguments (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype, None] = None,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 device_type: Optional[str] = None,
                 **kwargs) -> None:
        # AmpOptimWrapper.__init__ would assert an accelerator; its backward / step / state
        # dict methods work with any GradScaler, so only the set-up is replaced
        OptimWrapper.__init__(self, **kwargs)
        self.device_type = device_type or ('cuda' if torch.cuda.is_available() else 'cpu')
        if self.device_type not in ('cuda', 'cpu'):
            raise ValueError(f"AutocastOptimWrapper: device_type must be 'cuda' or 'cpu', got "
                             f"{self.device_type!r}.")
        if dtype is None:
            dtype = torch.float16 if self.device_type == 'cuda' else torch.bfloat16
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"AutocastOptimWrapper: dtype must be 'float16' or 'bfloat16', "
                                 f"got {dtype!r}.")
            dtype = _DTYPES[dtype]
        if dtype not in _DTYPES.values():
            raise ValueError(f'AutocastOptimWrapper: dtype must be float16 or bfloat16, got '
                             f'{dtype!r}.')
        self.cast_dtype = dtype
        if self.device_type == 'cpu' and dtype == torch.bfloat16 and cpu_bf16_missing():
            print_log(f'AutocastOptimWrapper: bfloat16 autocast on a CPU, but '
                      f'{cpu_bf16_missing()}; train in float32 (OptimWrapper) on this machine.',
                      logger='current', level=30)
        scaling = dtype == torch.float16
        self._scale_update_param = None
        if not scaling or loss_scale == 'dynamic':
            scaler_args = {}
        elif isinstance(loss_scale, (int, float)):
            self._scale_update_param = float(loss_scale)
            scaler_args = dict(init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            scaler_args = dict(loss_scale)
        else:
            raise TypeError(f'AutocastOptimWrapper: loss_scale must be "dynamic", a number or a '
                            f'dict of GradScaler arguments, got {loss_scale!r}.')
        self.loss_scaler = torch.amp.GradScaler(self.device_type, enabled=scaling, **scaler_args)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with OptimWrapper.optim_context(self, model), \
                torch.autocast(self.device_type, dtype=self.cast_dtype):
            yield


def amp_optim_wrapper_type() -> str:
    """What ``tools/train.py --amp`` uses: mmengine's ``AmpOptimWrapper`` (float16, dynamic loss
    scaling) with CUDA, :class:`AutocastOptimWrapper` (bfloat16) without."""
    return 'AmpOptimWrapper' if torch.cuda.is_available() else 'AutocastOptimWrapper'
