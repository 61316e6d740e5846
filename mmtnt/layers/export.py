"""Shape handling that survives graph export (ONNX via TorchScript tracing, ``torch.export``).

While a graph is traced, an input's sizes are graph values: arithmetic on them is recorded, but
a Python branch on them (``if pad_h:``, ``if new_size == old_size:``) is decided once, for the
traced input, and frozen into the graph. Code whose shortcuts branch on sizes asks
:func:`is_exporting` and takes the general path, which gives the same numbers at every size.
"""
import torch


def is_exporting() -> bool:
    """True while the model is being traced or exported rather than run."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_exporting())
