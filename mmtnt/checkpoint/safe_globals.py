"""The globals that safe loading (``torch.load(weights_only=True)``) accepts beyond torch's own.

torch >= 2.6 loads with ``weights_only=True``. Three kinds of honest checkpoints pickle more than
tensors, and each would fail with "Unsupported global" without this allow-list:

- mmengine 0.10.7's own checkpoints: numpy arrays and scalars and its ``HistoryBuffer`` in
  ``meta`` / ``message_hub`` (``--resume``, ``load_from``). ``HistoryBuffer`` pickles its
  statistics methods as ``getattr(HistoryBuffer, 'mean')``; plain ``getattr`` would open safe
  loading to anything, so the pickled ``getattr`` is mapped to :func:`history_buffer_getattr`,
  which resolves only those.
- timm-trained releases (the official TNT weights among them): the training arguments as an
  ``argparse.Namespace`` of plain values.
- checkpoints written under the other major numpy version: numpy 2 pickles its functions as
  ``numpy._core.multiarray.*``, numpy 1 as ``numpy.core.multiarray.*``. Both names are mapped to
  the installed numpy's functions, so a checkpoint loads whichever numpy wrote it.

Nothing here can run code: every entry is a data class, a numpy reconstructor or the restricted
``getattr``.
"""
import argparse
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')
_NUMPY_MULTIARRAY_MODULES = ('numpy.core.multiarray', 'numpy._core.multiarray')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods, for safe unpickling."""
    if obj is HistoryBuffer and (name in _BUILTIN_STATISTICS
                                 or name in HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'weights_only load refused getattr({obj!r}, {name!r}): mmtnt allows getattr only for '
        f'HistoryBuffer statistics methods.')


def safe_checkpoint_globals() -> List[Any]:
    """The globals (beyond torch's defaults) that mmtnt's safe loading accepts."""
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0':
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    dtype_classes = [
        cls for cls in vars(np.dtypes).values()
        if isinstance(cls, type) and issubclass(cls, np.dtype)
    ]
    numpy_functions = [(getattr(multiarray, fn), f'{module}.{fn}')
                       for module in _NUMPY_MULTIARRAY_MODULES
                       for fn in ('_reconstruct', 'scalar')]
    return numpy_functions + [
        np.ndarray, np.dtype, HistoryBuffer, argparse.Namespace,
        (history_buffer_getattr, '__builtin__.getattr'),  # protocol 2 (torch.save's default)
        (history_buffer_getattr, 'builtins.getattr'),
    ] + dtype_classes


def allow_safe_checkpoint_globals() -> None:
    """Add :func:`safe_checkpoint_globals` to torch's safe-loading allow-list (idempotent)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no safe-globals list (and no weights_only default)
        add(safe_checkpoint_globals())

