"""Let ``torch.load(weights_only=True)`` (the default since torch 2.6) read mmengine checkpoints.

mmengine 0.10.7 writes numpy arrays and scalars and its ``HistoryBuffer`` into a checkpoint's
``meta`` and ``message_hub``; with safe loading, resuming from its own checkpoints then fails with
"Unsupported global". Instead of switching safe loading off, mmtnt adds exactly these globals to
torch's allow-list on import.
"""
from typing import List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def mmengine_checkpoint_globals() -> List[object]:
    """The globals (beyond torch's defaults) that mmengine 0.10.7 checkpoints reference."""
    multiarray = (np._core if hasattr(np, '_core') else np.core).multiarray  # numpy 2 / 1
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if isinstance(getattr(np.dtypes, name), type) and issubclass(getattr(np.dtypes, name),
                                                                      np.dtype)
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, HistoryBuffer
            ] + dtype_classes


def allow_mmengine_checkpoint_globals() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's safe-loading allow-list (idempotent)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no safe-globals list (and no weights_only default)
        add(mmengine_checkpoint_globals())
