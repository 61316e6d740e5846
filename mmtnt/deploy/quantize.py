"""int8 post-training quantization of an mmtnt ONNX export (ONNX Runtime's static quantizer).

The result is one QDQ ``.onnx`` file (QuantizeLinear / DequantizeLinear pairs around the
quantized ops): ONNX Runtime's int8 model (``tools/test.py --backend onnxruntime --precision
int8``). OpenVINO reads it too and executes the quantized ops in integers (the tables below
measure both), but its own int8 model is NNCF's (:mod:`mmtnt.deploy.quantize_openvino`), which
also quantizes the attention products this file keeps float. What it is:

- weights per output channel, symmetric int8 with ``reduce_range`` (7 bits); activations per
  tensor, uint8 (U8S8). x86 CPUs without VNNI (this AVX2 EPYC) multiply u8 x s8 pairs into 16-bit
  sums that saturate with full-range weights: OpenVINO's int8 kernels do, and S8S8 activations
  (shifted to u8 inside) with full-range weights lose 14.5 dB there (table below);
- only ops with weights are quantized (``MatMul`` of Linear layers, ``Conv``), see
  :func:`quantizable_nodes`; everything else computes in float32: LayerNorm, GELU, Softmax,
  residual adds, the attention products (q @ k^T, attn @ v), position-grid and pooling
  resampling, the head's output layers (``retina_cls`` / ``retina_reg``, ``conv_seg``), and
  convs whose output reaches an add through a ReLU (UperNet's lateral convs:
  :func:`convs_into_relu_add`, OpenVINO runs that chain wrong in int8). The
  quantized ops' outputs are quantized too (what lets ONNX Runtime fuse ``QLinearMatMul`` /
  ``QLinearConv``), so a float op after a Linear may read int8-rounded values;
- calibrated by min / max of each activation on the first N images of the config's train set in
  a fixed order, as the test pipeline and the data preprocessor present them
  (:func:`calibration_batches`): the same images give a byte-identical model.

What stays float is measured with ``tools/analysis/quant_error.py --variants --openvino
--per-node`` (the output error when one group of nodes alone is quantized; each quantized
tensor's SQNR). Measured on a 2-core AMD EPYC Zen 2 (AVX2, no VNNI / AVX-512), 2026-12-03, on
the toy RetinaNet-TNT (configs/toy/retinanet_tnt_toy.py, 200 training iterations, bbox mAP
0.105), 32 calibration images, error on 16 test images: worst SQNR over the 10 outputs
(dB, higher is better) | worst largest difference relative to the output's largest magnitude,
ONNX Runtime / OpenVINO::

    ONNX Runtime      OpenVINO
    55.5 dB | 0.003   55.5 dB | 0.003  linear alone (37 nodes)             -> int8
    36.3 dB | 0.021   36.1 dB | 0.022  conv alone (30 nodes)               -> int8
    15.3 dB | 0.298   68.8 dB | 0.001  attention alone (16: q@k^T, attn@v) -> float
    fails             100 dB  | 0      resampling alone (2: position grid)  -> float (ONNX
                                       Runtime's QLinearMatMul rejects the 4-D position table)
    39.1 dB | 0.062   39.1 dB | 0.062  output alone (10: retina_cls / reg)  -> float (3x the
                                                                               largest error)
    36.3 dB | 0.019   36.9 dB | 0.021  default: linear + conv, u8 + reduce_range, min / max
    40.9 dB | 0.019   22.4 dB | 0.110  default with s8 activations, full-range weights
    36.6 dB | 0.020   36.8 dB | 0.020  default with percentile (99.999) calibration
    37.3 dB | 0.021   37.5 dB | 0.019  default with float outputs (no QLinear fusion in ORT)
    34.9 dB | 0.062   35.3 dB | 0.062  default + output layers
    15.3 dB | 0.302   37.3 dB | 0.020  default + attention

Per quantized tensor of the default model (4 test images), the accumulated SQNR stays between
28.9 dB (``stem_proj`` LayerNorm output, the first quantized activation) and 45 dB: no single
Linear / Conv needs to stay float. Calibration size (default set, ONNX Runtime / OpenVINO):
8 images 37.6 / 37.6 dB, 32: 36.3 / 36.9, 64: 36.8 / 36.9, quantized in 2.5 / 3.2 / 4.0 s: flat
on the toy set; ``tools/test.py`` takes 32 (:data:`mmtnt.deploy.backends.DEFAULT_CALIB`), a
margin for sets with more variety than the toy's three shapes at a cost of 32 forward passes
(at 800x1333, ~65x the toy's pixels each).

Evaluated by ``tools/test.py`` on the 100 toy val images: bbox mAP 0.105 in PyTorch, ONNX
Runtime fp32 and OpenVINO fp32; 0.106 in ONNX Runtime int8 and 0.105 in OpenVINO int8 (the same
file); the S8S8 file gave 0.111 / 0.113 (toy mAP moves little with a 22 dB output error).

OpenVINO runs all 67 quantized nodes in integers (its runtime model: 37 ``FullyConnected`` i8,
30 ``Convolution`` u8); ONNX Runtime fuses all 67 into ``QLinearMatMul`` / ``QLinearConv``
(with S8S8 activations it fused only 40 and ran the others as float ops on dequantized weights).
"""
import contextlib
import copy
import re
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch.nn as nn
from mmengine.logging import print_log

# Node categories (:func:`node_category`) quantized by default: see DECISIONS.
DEFAULT_GROUPS = ('linear', 'conv')
# the last layers of the dense / decode heads: their outputs are the scores, boxes and logits
OUTPUT_LAYERS = re.compile(r'/(retina_cls|retina_reg|conv_cls|conv_reg|conv_centerness|'
                           r'conv_seg|atss_cls|atss_reg|atss_centerness)(_\d+)?/')


def node_category(node, initializers: Dict[str, object]) -> Optional[str]:
    """What an ONNX node is, for quantization: ``linear`` (MatMul / Gemm by a 2-D weight),
    ``conv`` (Conv by a weight), ``output`` (the head's last layers), ``attention`` (a product
    of two activations inside attention), ``resampling`` (other products: position-grid
    resampling, adaptive pooling as matrices); None for every other op."""
    if node.op_type not in ('MatMul', 'Gemm', 'Conv'):
        return None
    if OUTPUT_LAYERS.search(node.name + '/'):
        return 'output'
    weight = initializers.get(node.input[1]) if len(node.input) > 1 else None
    if node.op_type == 'Conv':
        return 'conv' if weight is not None else 'resampling'
    if weight is not None and len(weight.dims) == 2:
        return 'linear'
    if weight is None and re.search(r'attn|maps', node.name):
        return 'attention'
    return 'resampling'


def convs_into_relu_add(model) -> List[str]:
    """Conv nodes whose output reaches an ``Add`` through a ``Relu`` (UperNet's lateral convs
    before the top-down sum): kept float by :func:`quantize_int8`. Quantized, OpenVINO's int8
    run of that chain goes wrong on trained weights: the toy UperNet's ``lateral_convs.0`` alone
    quantized gave 3.6 dB output SQNR in OpenVINO against 39.6 dB in ONNX Runtime from the same
    file, and the default set 2.1 / 28.4 dB (toy mIoU 25.1 against 51.5); with the three lateral
    convs float, 32.6 / 31.2 dB (2-core AMD EPYC Zen 2, OpenVINO 2026.4.1, 2026-12-03). Adding
    the conv's output to the graph's outputs also mended it: a fusion of the chain, not the
    integer product."""
    import onnx
    if isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    consumers: Dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    out = []
    for node in model.graph.node:
        if node.op_type != 'Conv':
            continue
        relus = [c for c in consumers.get(node.output[0], []) if c.op_type == 'Relu']
        if any(c.op_type == 'Add' for r in relus for c in consumers.get(r.output[0], [])):
            out.append(node.name)
    return out


def quantizable_nodes(model) -> Dict[str, str]:
    """Node name -> :func:`node_category` for every MatMul / Gemm / Conv of an ONNX model (a
    ``ModelProto`` or a path)."""
    import onnx
    if isinstance(model, str):
        model = onnx.load(model)
    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        category = node_category(node, inits)
        if category is not None:
            out[node.name] = category
    return out


class BatchReader:
    """ONNX Runtime's ``CalibrationDataReader`` over preprocessed batches, in order, each at its
    own size (the graph's input is dynamic)."""

    def __init__(self, batches: Sequence[np.ndarray], input_name: str = 'inputs') -> None:
        self.batches = list(batches)
        self.input_name = input_name
        self.rewind()

    def get_next(self) -> Optional[dict]:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter({self.input_name: np.ascontiguousarray(b, dtype=np.float32)}
                          for b in self.batches)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        feed = self.get_next()
        if feed is None:
            raise StopIteration
        return feed


def quantize_int8(fp32_onnx: str,
                  out_onnx: str,
                  calib_batches: Sequence[np.ndarray],
                  groups: Iterable[str] = DEFAULT_GROUPS,
                  exclude: Iterable[str] = (),
                  method: str = 'minmax',
                  activation_type: str = 'uint8',
                  quantize_outputs: bool = True,
                  keep_relu_add_float: bool = True) -> Dict[str, int]:
    """Quantize ``fp32_onnx`` to int8 QDQ at ``out_onnx``, calibrated on ``calib_batches``.

    Args:
        fp32_onnx: a float export (:func:`mmtnt.deploy.export_onnx`).
        out_onnx: the int8 ``.onnx`` to write.
        calib_batches: (B, C, H, W) float32 arrays as the graph takes them (preprocessed), fed
            in this order, each at its own size.
        groups: the :func:`node_category` categories to quantize.
        exclude: node names kept float besides (and, with ``keep_relu_add_float``, the
            convs of :func:`convs_into_relu_add`).
        method: activation ranges: ``minmax`` or ``percentile`` (99.999th).
        activation_type: ``uint8`` (U8S8 with ``reduce_range``: 7-bit weights, against the
            saturation of the u8 x s8 kernels of CPUs without VNNI; the default) or ``int8``
            (S8S8, full-range weights: better in ONNX Runtime, saturates in OpenVINO on CPUs
            without VNNI).
        quantize_outputs: also quantize the quantized ops' outputs (what lets ONNX Runtime fuse
            them into ``QLinearMatMul`` / ``QLinearConv``); else they stay float.
        keep_relu_add_float: keep the convs whose output reaches an add through a ReLU float
            (:func:`convs_into_relu_add`; OpenVINO runs them wrong in int8, ONNX Runtime right).

    Returns:
        How many nodes of each category were quantized.

    Raises:
        ValueError: no calibration batches, an unknown group / method / type, or no node left
            to quantize.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    if len(calib_batches) == 0:
        raise ValueError('int8 needs calibration data: give at least one preprocessed batch '
                         '(tools/test.py --calib N takes the first N training images).')
    methods = {'minmax': CalibrationMethod.MinMax, 'percentile': CalibrationMethod.Percentile}
    types = {'int8': QuantType.QInt8, 'uint8': QuantType.QUInt8}
    if method not in methods or activation_type not in types:
        raise ValueError(f'method={method!r}, activation_type={activation_type!r}: choose the '
                         f'method from {sorted(methods)} and the type from {sorted(types)}.')
    groups = set(groups)
    unknown = groups - {'linear', 'conv', 'output', 'attention', 'resampling'}
    if unknown:
        raise ValueError(f'unknown node groups {sorted(unknown)}: choose from linear, conv, '
                         f'output, attention, resampling.')
    categories = quantizable_nodes(fp32_onnx)
    relu_add = set(convs_into_relu_add(fp32_onnx)) if keep_relu_add_float else set()
    exclude = set(exclude) | relu_add
    nodes = [n for n, c in categories.items() if c in groups and n not in exclude]
    if not nodes:  # (ONNX Runtime reads an empty list as "quantize every node")
        raise ValueError(f'no node of the groups {sorted(groups)} is left to quantize in '
                         f'{fp32_onnx} (found: {sorted(set(categories.values()))}; excluded '
                         f'{len(exclude)}): choose other groups.')
    extra = {'ActivationSymmetric': False, 'WeightSymmetric': True}
    if not quantize_outputs:
        extra['OpTypesToExcludeOutputQuantization'] = ['MatMul', 'Gemm', 'Conv']
    if method == 'percentile':
        extra.update(CalibPercentile=99.999)
    with _lean_calibration(nodes):
        quantize_static(fp32_onnx, out_onnx, BatchReader(calib_batches),
                        quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=['MatMul', 'Gemm', 'Conv'], per_channel=True,
                        reduce_range=activation_type == 'uint8',
                        activation_type=types[activation_type], weight_type=QuantType.QInt8,
                        nodes_to_quantize=nodes, calibrate_method=methods[method],
                        extra_options=extra)
    counts: Dict[str, int] = {}
    for n in nodes:
        counts[categories[n]] = counts.get(categories[n], 0) + 1
    kept = {c: sum(1 for n, k in categories.items() if k == c and n not in nodes)
            for c in sorted(set(categories.values()))}
    relu_add_note = (f' ({len(relu_add)} of them convs into ReLU -> add, see '
                     f'convs_into_relu_add)' if relu_add else '')
    print_log(f'int8 ({activation_type} activations, {method} calibration on '
              f'{len(calib_batches)} batches): quantized {counts}; kept float {kept}'
              f'{relu_add_note} and every other op (LayerNorm, GELU, Softmax, adds) -> '
              f'{out_onnx}', logger='current')
    return counts


@contextlib.contextmanager
def _lean_calibration(nodes: Sequence[str]):
    """ONNX Runtime's calibration in the memory of one batch of the quantized nodes' tensors.

    Its calibrator records every input and output of every MatMul / Conv, the quantized or
    not (TNT's attention maps among them), for every calibration batch until the last: TNT-S
    at 800x1344 went past 24 GB within the first batch. Here (while quantizing) it records
    the inputs and outputs of ``nodes`` alone, and min / max calibration merges the ranges
    batch by batch. The ranges, and so the file, are those ONNX Runtime computes unpatched:
    the same bytes on the toy RetinaNet, UperNet and Trans2Seg (min / max and percentile).
    (``CalibMaxIntermediateOutputs`` would merge batch by batch, but ONNX Runtime 1.31
    drops the batches it clears instead of merging them.)
    """
    from onnxruntime.quantization.calibrate import CalibraterBase, MinMaxCalibrater
    names = set(nodes)
    select, collect = CalibraterBase.select_tensors_to_calibrate, MinMaxCalibrater.collect_data

    def select_quantized(self, model):
        tensors, value_infos = select(self, model)
        wanted = {t for n in model.graph.node if n.name in names
                  for t in list(n.input) + list(n.output)}
        return tensors & wanted, value_infos

    def collect_by_batch(self, data_reader):
        while True:
            inputs = data_reader.get_next()
            if not inputs:
                break
            collect(self, BatchReader([next(iter(inputs.values()))], next(iter(inputs))))

    CalibraterBase.select_tensors_to_calibrate = select_quantized
    MinMaxCalibrater.collect_data = collect_by_batch
    try:
        yield
    finally:
        CalibraterBase.select_tensors_to_calibrate = select
        MinMaxCalibrater.collect_data = collect


def calibration_batches(cfg, model: nn.Module, num_images: int,
                        split: str = 'train') -> List[np.ndarray]:
    """The first ``num_images`` images of ``cfg``'s train set, one per batch, in the dataset's
    order, through the test pipeline and ``model``'s data preprocessor in test mode: what the
    exported graph receives at test time, deterministically (no shuffling, no augmentation).

    Args:
        cfg: the model's config (``train_dataloader`` and ``test_dataloader`` are read).
        model: the PyTorch model built from it (its ``data_preprocessor``).
        num_images: how many images.
        split: ``train`` (calibration) or ``test`` (held-out images, for error reports).

    Returns:
        (1, C, H, W) float32 arrays.
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    if num_images < 1:
        raise ValueError(f'num_images={num_images}: calibration needs at least one image.')
    loader_cfg = copy.deepcopy(cfg[f'{split}_dataloader'])
    dataset = loader_cfg['dataset']
    while 'dataset' in dataset:  # RepeatDataset, ClassBalancedDataset, ...
        dataset = dataset['dataset']
    test_dataset = cfg.test_dataloader['dataset']
    while 'dataset' in test_dataset:
        test_dataset = test_dataset['dataset']
    dataset['pipeline'] = copy.deepcopy(test_dataset['pipeline'])
    loader_cfg.pop('batch_sampler', None)
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False))
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        loader = Runner.build_dataloader(loader_cfg, seed=0)
    batches = []
    with torch.no_grad():
        for data in loader:
            batches.append(model.data_preprocessor(data, False)['inputs'].float().numpy())
            if len(batches) == num_images:
                break
    if len(batches) < num_images:
        print_log(f'calibration: the {split} set has {len(batches)} images, fewer than the '
                  f'{num_images} asked for', logger='current', level=30)
    return batches
