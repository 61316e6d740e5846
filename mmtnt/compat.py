"""Let ``torch.load(weights_only=True)`` (the default since torch 2.6) read mmengine checkpoints.

mmengine 0.10.7 writes numpy arrays and scalars and its ``HistoryBuffer`` into a checkpoint's
``meta`` and ``message_hub``; with safe loading, resuming from its own checkpoints then fails with
"Unsupported global". Instead of switching safe loading off, mmtnt adds exactly these globals to
torch's allow-list on import. ``HistoryBuffer`` pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``; plain ``getattr`` would open safe loading to anything, so the
pickled ``getattr`` is mapped to :func:`history_buffer_getattr`, which resolves only those.
"""
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods, for safe unpickling."""
    if obj is HistoryBuffer and (name in _BUILTIN_STATISTICS
                                 or name in HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'weights_only load refused getattr({obj!r}, {name!r}): mmtnt allows getattr only for '
        f'HistoryBuffer statistics methods.')


def mmengine_checkpoint_globals() -> List[Any]:
    """The globals (beyond torch's defaults) that mmengine 0.10.7 checkpoints reference."""
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0':
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    dtype_classes = [
        cls for cls in vars(np.dtypes).values()
        if isinstance(cls, type) and issubclass(cls, np.dtype)
    ]
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, HistoryBuffer,
        (history_buffer_getattr, '__builtin__.getattr'),  # protocol 2 (torch.save's default)
        (history_buffer_getattr, 'builtins.getattr'),
    ] + dtype_classes


def allow_mmengine_checkpoint_globals() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's safe-loading allow-list (idempotent)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no safe-globals list (and no weights_only default)
        add(mmengine_checkpoint_globals())
