"""Export a detector or segmentor to ONNX, and check the exported graph in ONNX Runtime."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .graph import build_graph, output_names

Shape = Tuple[int, int]
BACKEND_NAMES = {'onnxruntime': 'ONNX Runtime', 'openvino': 'OpenVINO'}


def export_onnx(model: nn.Module,
                path: str,
                shape: Shape,
                dynamic: bool = True,
                dynamo: bool = False,
                opset: int = 17,
                in_channels: int = 3) -> List[str]:
    """Export ``model``'s tensor graph (see :mod:`mmtnt.deploy.graph`) to ``path``.

    Args:
        model: an mmdet single-stage detector or an mmseg encoder-decoder, weights loaded; put
            in eval mode. What is traced is a copy whose non-global adaptive pooling is replaced
            by an exact equivalent that exports.
        path: the ``.onnx`` file to write.
        shape: (H, W) of the example batch that is traced; with ``dynamic=False`` the only size
            the graph takes.
        dynamic: batch, height and width as graph inputs (any size), else fixed at ``shape``.
        dynamo: export through ``torch.export`` (``torch.onnx.export(dynamo=True)``, needs
            onnxscript) instead of TorchScript tracing (the route mmdeploy takes).
        opset: ONNX opset of the TorchScript route (the torch.export route picks its own).
        in_channels: image channels.

    Returns:
        The graph's output names, in order (input name: ``inputs``).
    """
    graph, task = build_graph(model)
    # torch.export specialises a batch of 1 to the constant 1: trace a batch of 2 when dynamic
    example = torch.randn(2 if dynamic else 1, in_channels, *shape)
    names = output_names(graph, task, example)
    if dynamo:
        dims = None
        if dynamic:
            Dim = torch.export.Dim
            dims = ({0: Dim('batch', min=1), 2: Dim('height', min=1), 3: Dim('width', min=1)}, )
        torch.onnx.export(graph, (example, ), path, dynamo=True, dynamic_shapes=dims,
                          input_names=['inputs'], output_names=names, external_data=False)
    else:
        axes = None
        if dynamic:
            axes = {'inputs': {0: 'batch', 2: 'height', 3: 'width'}}
            axes.update({n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} for n in names})
        with torch.no_grad():
            torch.onnx.export(graph, (example, ), path, dynamo=False, opset_version=opset,
                              input_names=['inputs'], output_names=names, dynamic_axes=axes)
    print_log(f'exported {type(model).__name__} ({task}) to {path}: input "inputs" '
              f'(batch, {in_channels}, height, width) {"any size" if dynamic else shape}, '
              f'{len(names)} outputs {names[:2]}{"..." if len(names) > 2 else ""}',
              logger='current')
    return names


def check_onnx(model: nn.Module,
               path: str,
               sizes: Sequence[Tuple[int, int, int]],
               in_channels: int = 3,
               seed: int = 0,
               runtime=None) -> List[Dict[str, float]]:
    """Run the exported graph in a backend and ``model`` in PyTorch on random batches.

    Args:
        model: the model that was exported, run as it is (adaptive pooling included).
        path: the ``.onnx`` file.
        sizes: (batch, H, W) of each check.
        runtime: the backend's :class:`mmtnt.deploy.runtime.DeployedModel` over ``path``
            (default: ONNX Runtime).

    Returns:
        Per size, ``max_abs`` (largest absolute difference over all outputs) and ``max_rel``
        (per output the largest difference over that output's largest magnitude; the largest
        over outputs).
    """
    from .runtime import OnnxRuntimeModel
    graph, _ = build_graph(model, exportable=False)
    runtime = runtime or OnnxRuntimeModel(path)
    gen = torch.Generator().manual_seed(seed)
    report = []
    for batch, h, w in sizes:
        x = torch.randn(batch, in_channels, h, w, generator=gen)
        with torch.no_grad():
            ref = graph(x)
        ref = ref if isinstance(ref, tuple) else (ref, )
        got = runtime(x)
        abs_diff = max(float((g - r).abs().max()) for g, r in zip(got, ref))
        rel_diff = max(float((g - r).abs().max() / r.abs().max().clamp(min=1e-12))
                       for g, r in zip(got, ref))
        report.append(dict(batch=batch, height=h, width=w, max_abs=abs_diff, max_rel=rel_diff))
        name = BACKEND_NAMES.get(runtime.backend, runtime.backend)
        print_log(f'{name} vs PyTorch at {batch}x{in_channels}x{h}x{w}: largest difference '
                  f'{abs_diff:.3g} (relative {rel_diff:.3g})', logger='current')
    return report


def default_check_sizes(shape: Shape, dynamic: bool) -> List[Tuple[int, int, int]]:
    """The traced size, and with a dynamic graph sizes it was not traced at: sides that are not
    multiples of 16 or 32, a smaller and a larger image, a batch of 2."""
    h, w = shape
    if not dynamic:
        return [(1, h, w)]
    return [(1, h, w), (2, 97, 301), (1, h + 37, max(w - 45, 17)), (1, max(h // 2 - 3, 9),
                                                                   w + 19)]


def default_shape(cfg) -> Optional[Shape]:
    """(H, W) a config's test images have when they reach the model: the segmentation
    preprocessor's ``size``, else the test pipeline's resize scale (keep-ratio scales are
    (long, short) sides: landscape) padded to the preprocessor's ``pad_size_divisor``."""
    pre = cfg.model.get('data_preprocessor', {}) or {}
    if pre.get('size'):
        return tuple(pre['size'])
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    scales = [t['scale'] for t in pipeline if isinstance(t, dict) and 'scale' in t]
    if not scales:
        return None
    w, h = scales[0] if isinstance(scales[0], (tuple, list)) else (scales[0], scales[0])
    w, h = max(w, h), min(w, h)
    div = pre.get('pad_size_divisor', 1) or 1
    return (-(-h // div) * div, -(-w // div) * div)
