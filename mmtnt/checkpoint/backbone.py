"""Loading a foreign-layout checkpoint into a backbone: the one path TNTBackbone and PyramidTNT
share (safe read, layout conversion, resampling, shape checks, every unmatched key logged)."""
from typing import Callable, Dict, Mapping, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .convert import ConvertResult
from .load import UnsafeCheckpointError


def load_backbone_checkpoint(
        model: nn.Module,
        filename: str,
        convert: Callable[[Mapping], ConvertResult],
        adapt: Optional[Callable[[Dict[str, torch.Tensor], ConvertResult], None]] = None
) -> ConvertResult:
    """Read ``filename`` (path, URL or ``hf-hub:`` id, through mmtnt's safe loading), convert it
    with ``convert``, let ``adapt`` fix its tensors in place (e.g. resample position tables),
    and load it into ``model``, logging the layout and every missing / unexpected / unmapped key.

    Raises:
        UnsafeCheckpointError: the file's pickle is refused (the message says how to trust it).
        ValueError: the file cannot be read, is not of a known layout, or does not fit ``model``;
            the message names the file.
    """
    name = type(model).__name__
    try:
        raw = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    except (UnsafeCheckpointError, ValueError):
        raise  # its message names the file (and how to trust it, or what is wrong with it)
    except Exception as e:  # torch / pickle / zip / download errors alike: say which file
        raise ValueError(f'Could not read the checkpoint {filename!r}: {e}') from e
    try:
        result = convert(raw)
        if adapt is not None:
            adapt(result.state_dict, result)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{filename!r}: {e}') from e
    state = result.state_dict
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        k = mismatched[0]
        raise ValueError(f'{filename!r} does not fit this {name}: {k} has shape '
                         f'{tuple(state[k].shape)}, expected {tuple(own[k].shape)} '
                         f'({len(mismatched)} mismatched tensors; check arch / in_channels).')
    missing, unexpected = model.load_state_dict(state, strict=False)
    print_log(f'Loaded {result.layout} {name} checkpoint {filename} ({len(state)} tensors; '
              f'dropped classifier keys: {result.dropped or "none"})', logger='current')
    for what, keys in (('missing', missing), ('unexpected', unexpected),
                       ('unmapped', result.unmapped)):
        if keys:
            print_log(f'{what} keys in {filename}: {", ".join(keys)}', logger='current',
                      level=30)
    return result
