"""The tensor graph of a detector or segmentor, in a form that exports to ONNX at any input size.

What is exported is what runs on the accelerator: backbone, neck and head, from the
preprocessed batch (normalised, padded, as the model's ``data_preprocessor`` gives it) to

- a single-stage detector's dense head outputs, level by level (RetinaNet: ``cls_scores_0..4``,
  then ``bbox_preds_0..4``), which ``bbox_head.predict_by_feat`` turns into boxes;
- a segmentor's class logits resized to the input batch (``seg_logits``), which
  ``postprocess_result`` crops and resizes to each image.

Anchors, box decoding and NMS stay in Python (:mod:`mmtnt.deploy.runtime`).
"""
import copy
import inspect
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def adaptive_pool_weights(in_size, out_size: int, device: torch.device = None) -> torch.Tensor:
    """The (out_size, in_size) matrix of adaptive average pooling along one axis.

    Output ``i`` averages inputs ``floor(i * in / out)`` to ``ceil((i + 1) * in / out) - 1``, as
    ``nn.AdaptiveAvgPool2d``. ``in_size`` may be a traced size: the matrix is then computed in the
    exported graph, which ONNX's pooling operators (fixed kernels) cannot express.
    """
    out_idx = torch.arange(out_size, device=device)
    start = out_idx * in_size // out_size
    end = ((out_idx + 1) * in_size + out_size - 1) // out_size
    in_idx = torch.arange(in_size, device=device)
    inside = (in_idx[None] >= start[:, None]) & (in_idx[None] < end[:, None])
    return inside.float() / (end - start)[:, None].float()


class AdaptiveAvgPoolAsMatmul(nn.Module):
    """``nn.AdaptiveAvgPool2d`` with a fixed output size, as two matrix products (exact up to
    summation order) that export for any input size."""

    def __init__(self, output_size: Tuple[int, int]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = adaptive_pool_weights(x.shape[-2], self.output_size[0], x.device)
        cols = adaptive_pool_weights(x.shape[-1], self.output_size[1], x.device)
        return (rows.to(x.dtype) @ x @ cols.t().to(x.dtype))


def make_pooling_exportable(module: nn.Module) -> int:
    """Replace, in place, every ``nn.AdaptiveAvgPool2d`` whose output is not global (1x1) with
    :class:`AdaptiveAvgPoolAsMatmul`. Returns how many were replaced."""
    replaced = 0
    for parent in module.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d):
                size = child.output_size
                size = (size, size) if isinstance(size, int) else tuple(size)
                if None in size:
                    raise ValueError(f'{name}: adaptive pooling that keeps an input side '
                                     f'(output_size={child.output_size}) cannot be exported.')
                if size != (1, 1):
                    setattr(parent, name, AdaptiveAvgPoolAsMatmul(size))
                    replaced += 1
    return replaced


def model_task(model: nn.Module) -> str:
    """'detection' (an mmdet single-stage detector) or 'segmentation' (an mmseg encoder-decoder).

    Raises:
        ValueError: any other model, with what can be exported instead.
    """
    from mmdet.models.detectors import SingleStageDetector
    from mmseg.models.segmentors import EncoderDecoder
    if isinstance(model, SingleStageDetector):
        return 'detection'
    if isinstance(model, EncoderDecoder):
        return 'segmentation'
    raise ValueError(
        f'{type(model).__name__} cannot be exported by mmtnt: its graph ends in data-dependent '
        f'steps (RoI heads, query decoders) that ONNX Runtime cannot run without custom '
        f'operators. mmtnt exports single-stage detectors (RetinaNet, FCOS, ...) and '
        f'encoder-decoder segmentors (UperNet, FPN); for other models, export their backbone '
        f'(e.g. TNTBackbone) alone.')


class DenseHeadGraph(nn.Module):
    """A single-stage detector from the preprocessed batch to its dense head's outputs."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = self.detector.bbox_head(self.detector.extract_feat(inputs))
        return tuple(t for per_level in outs for t in per_level)


class SegLogitsGraph(nn.Module):
    """An encoder-decoder segmentor from the preprocessed batch to logits at the batch's size
    (what ``EncoderDecoder.encode_decode`` gives ``postprocess_result``)."""

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        head = self.segmentor.decode_head
        logits = head(self.segmentor.extract_feat(inputs))
        return F.interpolate(logits, size=inputs.shape[2:], mode='bilinear',
                             align_corners=head.align_corners)


def dense_output_names(detector: nn.Module, num_outputs: int, num_levels: int) -> List[str]:
    """Names of a dense head's flattened outputs: ``predict_by_feat``'s argument names by level."""
    params = list(inspect.signature(detector.bbox_head.predict_by_feat).parameters)
    kinds = params[:num_outputs // num_levels]
    return [f'{kind}_{level}' for kind in kinds for level in range(num_levels)]


def build_graph(model: nn.Module, exportable: bool = True) -> Tuple[nn.Module, str]:
    """Wrap ``model`` in eval mode as the graph to export. Returns the graph module and the task.

    With ``exportable`` the graph runs on a copy of ``model`` whose non-global adaptive pooling is
    replaced (:func:`make_pooling_exportable`); without, on ``model`` itself, unchanged (the
    reference the export is checked against).
    """
    task = model_task(model)
    model.eval()
    if exportable:
        model = copy.deepcopy(model)
        make_pooling_exportable(model)
    graph = DenseHeadGraph(model) if task == 'detection' else SegLogitsGraph(model)
    return graph.eval(), task


def output_names(graph: nn.Module, task: str, example: torch.Tensor) -> List[str]:
    """The graph's output names, found by running it once on ``example``."""
    if task == 'segmentation':
        return ['seg_logits']
    with torch.no_grad():
        outs = graph.detector.bbox_head(graph.detector.extract_feat(example))
    return dense_output_names(graph.detector, sum(len(o) for o in outs), len(outs[0]))


def group_outputs(names: Sequence[str],
                  outputs: Sequence[torch.Tensor]) -> List[List[torch.Tensor]]:
    """Undo :class:`DenseHeadGraph`'s flattening: per kind (in order), the list over levels."""
    groups: dict = {}
    for name, out in zip(names, outputs):
        groups.setdefault(name.rsplit('_', 1)[0], []).append(out)
    return list(groups.values())
