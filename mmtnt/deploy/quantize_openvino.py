"""int8 post-training quantization for OpenVINO, by NNCF (the OpenVINO project's quantizer).

ONNX Runtime runs its own file (:mod:`mmtnt.deploy.quantize`): it loses accuracy on the
attention products, so they stay float there. OpenVINO keeps them accurate, so its int8 model
quantizes them too. What :func:`quantize_openvino_int8` writes is an OpenVINO IR (``.xml`` +
``.bin``) read by :class:`mmtnt.deploy.OpenVINOModel`:

- NNCF's transformer scheme (``ModelType.TRANSFORMER``): every Linear (``MatMul`` by a weight),
  every convolution and the attention scores (q @ k^T) run on int8 inputs; LayerNorm, GELU,
  Softmax, the adds, attn @ v (NNCF keeps a Softmax's product float) and the position-grid
  resampling stay float, and SmoothQuant moves activation outliers into the Linear weights
  before the ranges are taken;
- weights per output channel, 7-bit (``OverflowFix.ENABLE``, against the saturating u8 x s8
  16-bit sums of x86 CPUs without VNNI, as ONNX Runtime's ``reduce_range``);
- kept float as in ONNX Runtime's file: the head's output layers
  (:data:`mmtnt.deploy.quantize.OUTPUT_LAYERS`) and the convs into ReLU -> add
  (:func:`mmtnt.deploy.quantize.convs_into_relu_add`);
- statistics gathered by reductions inside the graph (NNCF inserts them), so calibration holds
  one batch's activations at a time whatever the image size;
- the same calibration images as ONNX Runtime's (:func:`mmtnt.deploy.calibration_batches`);
  the same images give the same weights and graph (OpenVINO numbers some names per process).

Why each runtime gets its own int8 model: docs/user_guides/deploy.md#which-file-runs-where.
"""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, Iterable, Sequence

import numpy as np
from mmengine.logging import print_log

from .quantize import OUTPUT_LAYERS, convs_into_relu_add


def _import_nncf():
    try:
        import nncf
    except ImportError as e:  # pragma: no cover - installed by tools/setup_env.sh
        raise ImportError('OpenVINO int8 is quantized by NNCF: bash tools/setup_env.sh installs '
                          'the pinned version (tools/constraints.txt).') from e
    return nncf


def quantize_openvino_int8(fp32_onnx: str,
                           out_xml: str,
                           calib_batches: Sequence[np.ndarray],
                           exclude: Iterable[str] = ()) -> Dict[str, int]:
    """Quantize the float export ``fp32_onnx`` for OpenVINO into the IR ``out_xml``.

    Args:
        fp32_onnx: a float export (:func:`mmtnt.deploy.export_onnx`).
        out_xml: the ``.xml`` to write (its ``.bin`` beside it).
        calib_batches: (B, C, H, W) float32 arrays as the graph takes them, each at its size.
        exclude: ONNX node names kept float besides the output layers and the convs of
            :func:`mmtnt.deploy.quantize.convs_into_relu_add`.

    Returns:
        How many products run on int8 inputs, by kind: ``linear`` / ``conv`` (a weight) and
        ``activations`` (two activations: the attention scores).

    Raises:
        ValueError: no calibration batches, an ``out_xml`` that is not ``.xml``, or an
            ``exclude`` name the graph does not have.
    """
    if len(calib_batches) == 0:
        raise ValueError('int8 needs calibration data: give at least one preprocessed batch '
                         '(tools/test.py --calib N takes the first N training images).')
    if not is_openvino_ir(out_xml):
        raise ValueError(f'out_xml={out_xml!r}: an OpenVINO IR is written as NAME.xml (with '
                         f'NAME.bin beside it).')
    nncf = _import_nncf()
    import openvino as ov
    model = ov.Core().read_model(fp32_onnx)
    names = [op.get_friendly_name() for op in model.get_ops()]
    kept = set(exclude) | set(convs_into_relu_add(fp32_onnx))
    # an ONNX node keeps its name in OpenVINO, but a Conv with a bias becomes a Convolution
    # NAME/WithoutBiases and an Add NAME: NNCF keeps the pair float when the first is ignored
    ignored = [n for n in names if OUTPUT_LAYERS.search(n + '/') or n in kept
               or (n.endswith('/WithoutBiases') and n[:-len('/WithoutBiases')] in kept)]
    missing = set(exclude) - {n[:-len('/WithoutBiases')] if n.endswith('/WithoutBiases') else n
                              for n in ignored}
    if missing:
        raise ValueError(f'exclude names no node of {fp32_onnx}: {sorted(missing)[:5]} (ONNX '
                         f'node names, e.g. from mmtnt.deploy.quantizable_nodes).')
    params = nncf.AdvancedQuantizationParameters(overflow_fix=nncf.OverflowFix.ENABLE)
    dataset = nncf.Dataset([np.ascontiguousarray(b, dtype=np.float32) for b in calib_batches])
    quantized = nncf.quantize(model, dataset, subset_size=len(calib_batches),
                              model_type=nncf.ModelType.TRANSFORMER,
                              ignored_scope=nncf.IgnoredScope(names=ignored, validate=False),
                              advanced_parameters=params)
    ov.save_model(quantized, out_xml, compress_to_fp16=False)
    counts = integer_product_kinds(quantized)
    print_log(f'OpenVINO int8 (NNCF {nncf.__version__}, transformer scheme with SmoothQuant, '
              f'min / max on {len(calib_batches)} batches): int8 inputs for {counts}; kept '
              f'float the output layers and {len(kept)} more ({len(ignored)} ops ignored) and '
              f'every other '
              f'op (LayerNorm, GELU, Softmax, adds) -> {out_xml}', logger='current')
    return counts


def integer_products_by_name(model) -> Dict[str, str]:
    """Name -> kind of every MatMul / Convolution of an OpenVINO model whose two inputs are
    int8 (activations through ``FakeQuantize``, weights stored in int8: a constant converted
    and scaled): ``linear`` / ``conv`` (by a weight) or ``activations`` (two activations)."""
    out = {}
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ('MatMul', 'Convolution'):
            continue
        sources = [_through(op.input_value(i).get_node(), _LAYOUT) for i in range(2)]
        weights = [_int8_weight(s) for s in sources]
        if not all(w or _int8_activation(s) for s, w in zip(sources, weights)):
            continue
        if kind == 'Convolution':
            out[op.get_friendly_name()] = 'conv'
        else:
            out[op.get_friendly_name()] = 'linear' if any(weights) else 'activations'
    return out


def integer_product_kinds(model) -> Dict[str, int]:
    """How many products of :func:`integer_products_by_name` of each kind."""
    counts = {'linear': 0, 'conv': 0, 'activations': 0}
    for kind in integer_products_by_name(model).values():
        counts[kind] += 1
    return counts


# ops that pass int8 values on unchanged (OpenVINO runs them on the quantized tensor)
_LAYOUT = ('Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'MaxPool', 'Slice', 'StridedSlice',
           'Pad')


def _through(node, kinds):
    while node.get_type_name() in kinds:
        node = node.input_value(0).get_node()
    return node


def _int8_activation(node) -> bool:
    """An activation OpenVINO runs in int8: through ``FakeQuantize``, or a concatenation of
    such (NNCF quantizes a Concat's inputs alike, e.g. UperNet's bottleneck)."""
    if node.get_type_name() == 'Concat':
        return all(_int8_activation(_through(node.input_value(i).get_node(), _LAYOUT))
                   for i in range(node.get_input_size()))
    return node.get_type_name() == 'FakeQuantize'


def _int8_weight(node) -> bool:
    """An int8 weight as OpenVINO stores it: Constant (i8 / u8) -> Convert -> [Subtract] ->
    Multiply by the scales."""
    if node.get_type_name() != 'Multiply':
        return False
    source = _through(node.input_value(0).get_node(), ('Subtract', 'Convert') + _LAYOUT)
    return source.get_type_name() == 'Constant' and \
        source.get_output_element_type(0).get_type_name() in ('i8', 'u8')


def is_openvino_ir(path: str) -> bool:
    return osp.splitext(path)[1].lower() == '.xml'


def ir_is_quantized(path: str) -> bool:
    """Whether an OpenVINO IR holds ``FakeQuantize`` ops (an NNCF int8 model; read as XML,
    nothing compiled).

    Raises:
        ValueError: a file that is not an OpenVINO IR, or without its ``.bin`` beside it.
    """
    try:
        layers = ET.parse(path).getroot().find('layers')
    except ET.ParseError as e:
        raise ValueError(f'{path} is not an OpenVINO IR (XML: {e}): pass the .xml that '
                         f'ov.save_model or an earlier tools/test.py run wrote.') from e
    if layers is None:
        raise ValueError(f'{path} holds no <layers>: not an OpenVINO IR .xml.')
    if not osp.isfile(osp.splitext(path)[0] + '.bin'):
        raise ValueError(f'{path}: its weights {osp.splitext(path)[0]}.bin are missing (an IR '
                         f'is the .xml and the .bin beside it).')
    return any(layer.get('type') == 'FakeQuantize' for layer in layers)

