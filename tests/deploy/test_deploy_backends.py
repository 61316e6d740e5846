"""Deployment past float32 on the CPU: OpenVINO (fp32, the bf16 hint), int8 by ONNX Runtime's static
QDQ quantization (run in ONNX Runtime and in OpenVINO), and tools/test.py's backends.

Tolerances (relative: the largest difference over the output's largest magnitude):
- fp32 OpenVINO vs PyTorch: 1e-4 at sizes the graph was not traced at (measured ~2e-6);
- int8 vs PyTorch fp32, on toy images at sizes not seen at export: class scores 0.02 and an
  SQNR of 45 dB at least (measured, randomised toy RetinaNet: 0.008 / 50 dB worst), box deltas
  (small numbers around 0) 0.15 and 18 dB (measured: 0.119 / 19.6 dB worst, at 2x97x301, on the
  smallest level; the 200-iteration trained toy: 0.069 / 26 dB);
- tools/test.py metrics: fp32 backends equal PyTorch's to 1e-3; int8 within 0.03 bbox mAP
  (measured on a 200-iteration toy: 0.105 fp32, 0.111 / 0.113 int8).
"""
import collections
import os
import xml.etree.ElementTree as ET
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmtnt.deploy import (OnnxRuntimeModel, OpenVINOModel, build_graph, calibration_batches,
                          check_bf16_cpu, check_onnx, export_onnx, quantizable_nodes,
                          quantize_int8, quantize_openvino_int8)
from mmtnt.deploy.backends import DEFAULT_CALIB, check_backend_args, deploy_model
from mmtnt.deploy.quantize import convs_into_relu_add
from mmtnt.deploy.quantize_openvino import integer_product_kinds, integer_products_by_name
from mmtnt.utils import build_model
from mmtnt.utils.cpu_features import cpu_bf16_support

from helpers import ROOT, randomize_

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
ov = pytest.importorskip('openvino')
# as tests/deploy/test_onnx.py: sizes the graphs were not traced at (odd sides, batch 2)
MODEL_SIZES = [(2, 97, 301), (1, 33, 47), (1, 200, 130)]
FP32_TOL = 1e-4
INT8_TOL = {'cls_scores': (0.02, 45.), 'bbox_preds': (0.15, 18.)}  # relative, SQNR (dB)
INT8_MAP_TOL = 0.03


def _toy_cfg(name, data_root=None):
    cfg = Config.fromfile(str(ROOT / 'configs' / 'toy' / name))
    if data_root:
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = data_root
    return cfg


def _toy_model(cfg):
    model = build_model(cfg)
    model.init_weights()
    return randomize_(model, 0.02).eval()


@pytest.fixture(scope='module')
def toy_int8(tmp_path_factory, toy_data_root):
    """A randomised toy RetinaNet-TNT, exported (dynamic) and quantized on 8 toy images: for
    ONNX Runtime (QDQ .onnx) and for OpenVINO (NNCF's IR)."""
    torch.manual_seed(0)
    cfg = _toy_cfg('retinanet_tnt_toy.py', toy_data_root)
    model = _toy_model(cfg)
    tmp = tmp_path_factory.mktemp('int8')
    fp32, int8 = str(tmp / 'fp32.onnx'), str(tmp / 'int8.onnx')
    export_onnx(model, fp32, (128, 128), dynamic=True)
    calib = calibration_batches(cfg, model, 8)
    counts = quantize_int8(fp32, int8, calib)
    ov_int8 = str(tmp / 'int8_openvino.xml')
    ov_counts = quantize_openvino_int8(fp32, ov_int8, calib)
    held_out = calibration_batches(cfg, model, 2, split='test')
    return SimpleNamespace(cfg=cfg, model=model, fp32=fp32, int8=int8, calib=calib,
                           counts=counts, ov_int8=ov_int8, ov_counts=ov_counts,
                           held_out=held_out, tmp=tmp)


def _consumers_of_int8_weights(graph):
    int8_weights = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    dequantized = {n.output[0] for n in graph.node
                   if n.op_type == 'DequantizeLinear' and n.input[0] in int8_weights}
    return [n for n in graph.node
            if n.op_type in ('MatMul', 'Conv', 'Gemm') and n.input[1] in dequantized]


def test_int8_graph_holds_int8_weights_for_every_linear_and_conv(toy_int8):
    fp32 = onnx.load(toy_int8.fp32).graph
    int8 = onnx.load(toy_int8.int8).graph
    kinds = quantizable_nodes(toy_int8.fp32)
    expected = sorted(n for n, k in kinds.items() if k in ('linear', 'conv'))
    fed = _consumers_of_int8_weights(int8)
    assert sorted(n.name for n in fed) == expected
    assert toy_int8.counts == {'linear': 37, 'conv': 30}
    # nothing lost or added: the same products, the float ones without int8 weights
    ops = lambda g: collections.Counter(n.op_type for n in g.node)  # noqa: E731
    assert ops(int8)['MatMul'] == ops(fp32)['MatMul'] == 55
    assert ops(int8)['Conv'] == ops(fp32)['Conv'] == 40
    # Softmax, GELU (Erf) and the residual adds (no constant operand) read float tensors, not
    # dequantized ones; LayerNorm runs in float and none of its weights is quantized (an input may
    # be a Linear's int8-rounded output, quantized for ONNX Runtime's QLinearMatMul: measured)
    produced_by = {o: n.op_type for n in int8.node for o in n.output}
    constants = {i.name for i in int8.initializer} | {
        o for n in int8.node if n.op_type == 'Constant' for o in n.output}
    checked = 0
    for node in int8.node:
        if node.op_type in ('Softmax', 'Erf') or (node.op_type == 'Add' and node.name.startswith(
                '/backbone/blocks') and not constants & set(node.input)):
            assert all(produced_by.get(i) != 'DequantizeLinear' for i in node.input), node.name
            checked += 1
        if node.op_type == 'LayerNormalization':
            assert all(produced_by.get(i) != 'DequantizeLinear' for i in node.input[1:])
    assert checked >= 8 + 8 + 16  # 8 softmax, 8 GELU, 2 residual adds per inner / outer block


def test_int8_runs_integer_products_in_both_backends(toy_int8):
    import onnxruntime as ort
    n_quantized = sum(toy_int8.counts.values())
    # OpenVINO: every quantized Linear / Conv executes in int8
    core = ov.Core()
    runtime = core.compile_model(core.read_model(toy_int8.int8), 'CPU').get_runtime_model()
    integer = collections.Counter(
        op.get_rt_info()['layerType'].astype(str) for op in runtime.get_ordered_ops()
        if op.get_rt_info()['runtimePrecision'].astype(str) in ('i8', 'u8')
        and op.get_rt_info()['layerType'].astype(str) in ('FullyConnected', 'Convolution',
                                                            'MatMul'))
    assert sum(integer.values()) == n_quantized, integer
    # ONNX Runtime: fuses every DQ -> op -> Q into an integer kernel
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(toy_int8.tmp / 'optimized.onnx')
    ort.InferenceSession(toy_int8.int8, options, providers=['CPUExecutionProvider'])
    fused = collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath)
                                .graph.node if n.op_type.startswith('QLinear'))
    assert fused['QLinearMatMul'] + fused['QLinearConv'] == n_quantized, fused
    # what ONNX Runtime reports (and labels its figures by): the same count, none in float.
    # (OpenVINOModel's read-back: test_compile.py's benchmark rows, in a process of their own:
    # more OpenVINO models compiled in this process made a later self-signalling test in
    # test_long_runs.py crash it)
    for path, expected in ((toy_int8.int8, (n_quantized, 'int8')), (toy_int8.fp32, (0, 'fp32'))):
        runtime = OnnxRuntimeModel(path)
        assert (runtime.integer_ops, runtime.precision) == expected


def test_convs_into_relu_add_stay_float(toy_int8, tmp_path):
    """UperNet's lateral convs (Conv -> ReLU -> the top-down add), which OpenVINO ran wrong in
    int8 on the trained toy UperNet (mmtnt.deploy.quantize.convs_into_relu_add), stay float;
    the RetinaNet has no such conv."""
    assert convs_into_relu_add(toy_int8.fp32) == []
    cfg = _toy_cfg('upernet_tnt_toy.py')
    fp32, int8 = str(tmp_path / 'fp32.onnx'), str(tmp_path / 'int8.onnx')
    export_onnx(_toy_model(cfg), fp32, (64, 64), dynamic=True)
    kept = convs_into_relu_add(fp32)
    assert kept == [f'/decode_head/lateral_convs.{i}/conv/Conv' for i in range(3)]
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((1, 3, 64, 64), dtype=np.float32)]
    counts = quantize_int8(fp32, int8, batches)
    assert counts['conv'] == sum(k == 'conv' for k in quantizable_nodes(fp32).values()) - 3
    fed = {n.name for n in _consumers_of_int8_weights(onnx.load(int8).graph)}
    assert fed and not fed & set(kept)
    # NNCF's IR for OpenVINO: the same convs float (OpenVINO names a biased conv's
    # Convolution NAME/WithoutBiases)
    ov_int8 = str(tmp_path / 'int8.xml')
    counts = quantize_openvino_int8(fp32, ov_int8, batches)
    products = integer_products_by_name(ov.Core().read_model(ov_int8))
    assert counts['conv'] == sum(k == 'conv' for k in quantizable_nodes(fp32).values()) - 3
    assert not {n.replace('/WithoutBiases', '') for n in products} & set(kept), products


def test_lean_calibration_gives_onnx_runtimes_own_file(toy_int8, tmp_path, monkeypatch):
    """quantize_int8 calibrates on the quantized nodes' tensors alone, batch by batch (TNT-S at
    800x1344: 7 GB against over 24 GB): the same bytes as ONNX Runtime's calibration of every
    MatMul / Conv tensor, and ONNX Runtime's calibrator as it was afterwards."""
    import contextlib

    import mmtnt.deploy.quantize as quantize
    from onnxruntime.quantization.calibrate import CalibraterBase, MinMaxCalibrater
    methods = (CalibraterBase.select_tensors_to_calibrate, MinMaxCalibrater.collect_data)
    lean, plain = str(tmp_path / 'lean.onnx'), str(tmp_path / 'plain.onnx')
    quantize_int8(toy_int8.fp32, lean, toy_int8.calib[:3])
    assert (CalibraterBase.select_tensors_to_calibrate, MinMaxCalibrater.collect_data) == methods
    monkeypatch.setattr(quantize, '_lean_calibration', lambda nodes: contextlib.nullcontext())
    quantize_int8(toy_int8.fp32, plain, toy_int8.calib[:3])
    assert Path(lean).read_bytes() == Path(plain).read_bytes()


def test_nothing_left_to_quantize_is_refused(toy_int8, tmp_path):
    """(ONNX Runtime's quantizer reads an empty node list as every node.)"""
    linear = [n for n, k in quantizable_nodes(toy_int8.fp32).items() if k == 'linear']
    with pytest.raises(ValueError, match='no node of the groups'):
        quantize_int8(toy_int8.fp32, str(tmp_path / 'x.onnx'), toy_int8.calib[:1],
                      groups=('linear', ), exclude=linear)


def test_profile_shows_the_integer_kernels(toy_int8):
    """profile_ops (tools/benchmark.py --profile): where the time of a call goes, by kind of
    operation; the int8 graph's products among them, in integer kernels."""
    x = toy_int8.held_out[0]
    ort_ops = OnnxRuntimeModel(toy_int8.int8, profile=True).profile_ops(x, repeats=1)
    ov_ops = OpenVINOModel(toy_int8.int8, profile=True).profile_ops(x, repeats=1)
    for ops in (ort_ops, ov_ops):
        assert all(t >= 0 for t in ops.values()) and sum(ops.values()) > 0
        assert list(ops.values()) == sorted(ops.values(), reverse=True)
    assert ort_ops.get('QLinearMatMul', 0) > 0 and ort_ops.get('QLinearConv', 0) > 0
    assert any(k.startswith('FullyConnected') and k.lower().endswith('_i8') for k in ov_ops)
    with pytest.raises(ValueError, match='profile=True'):
        OpenVINOModel(toy_int8.int8).profile_ops(x)


def test_a_quantized_graph_run_in_float_is_not_labelled_int8(toy_int8, monkeypatch):
    """As if ONNX Runtime had fused none of the quantized products (a build without its integer
    kernels): the figures are float, and the label and the log say so."""
    import mmtnt.deploy.runtime as runtime
    logged = []
    monkeypatch.setattr(runtime, 'ORT_INTEGER_KERNELS', ('NoSuchKernel', ))
    monkeypatch.setattr(runtime, 'print_log', lambda msg, **kwargs: logged.append(msg))
    model = OnnxRuntimeModel(toy_int8.int8)
    assert (model.integer_ops, model.precision) == (0, 'fp32')
    assert any('figures are fp32, not int8' in m for m in logged), logged


@pytest.mark.parametrize('config', ['retinanet_tnt_toy.py', 'upernet_tnt_toy.py',
                                    'retinanet_pyramid_tnt_toy.py'])
def test_openvino_fp32_equals_pytorch_at_sizes_not_seen_at_export(tmp_path, config):
    model = _toy_model(_toy_cfg(config))
    path = str(tmp_path / 'model.onnx')
    export_onnx(model, path, (128, 128), dynamic=True)
    runtime = OpenVINOModel(path)
    assert runtime.hint == 'f32' and runtime.precision == 'fp32'
    report = check_onnx(model, path, MODEL_SIZES, runtime=runtime)
    assert max(r['max_rel'] for r in report) < FP32_TOL


def _sqnr(ref, got):
    return float(10 * torch.log10(ref.pow(2).sum() / (ref - got).pow(2).sum()))


@pytest.mark.parametrize('backend, file', [(OnnxRuntimeModel, 'int8'), (OpenVINOModel, 'int8'),
                                           (OpenVINOModel, 'ov_int8')],
                         ids=['ort', 'openvino-qdq', 'openvino-nncf'])
def test_int8_close_to_pytorch_at_sizes_not_seen(toy_int8, backend, file):
    graph, _ = build_graph(toy_int8.model, exportable=False)
    runtime = backend(getattr(toy_int8, file))
    assert runtime.precision == 'int8'
    images = torch.from_numpy(np.concatenate(toy_int8.held_out))
    for batch, h, w in MODEL_SIZES:
        x = F.interpolate(images[:batch], size=(h, w), mode='bilinear', align_corners=False)
        with torch.no_grad():
            ref = graph(x)
        for name, got, r in zip(runtime.output_names, runtime(x), ref):
            rel, db = float((got - r).abs().max() / r.abs().max()), _sqnr(r, got)
            max_rel, min_db = INT8_TOL[name.rsplit('_', 1)[0]]
            assert rel < max_rel and db > min_db, (name, batch, h, w, rel, db)


def test_calibration_and_quantization_are_deterministic(toy_int8):
    again = calibration_batches(toy_int8.cfg, toy_int8.model, 8)
    assert all(np.array_equal(a, b) for a, b in zip(again, toy_int8.calib))
    path = str(toy_int8.tmp / 'again.onnx')
    quantize_int8(toy_int8.fp32, path, again)
    assert Path(path).read_bytes() == Path(toy_int8.int8).read_bytes()
    path = str(toy_int8.tmp / 'again.xml')
    quantize_openvino_int8(toy_int8.fp32, path, again)
    assert Path(path).with_suffix('.bin').read_bytes() == \
        Path(toy_int8.ov_int8).with_suffix('.bin').read_bytes()
    # the same layers and edges (names aside: OpenVINO numbers some per process)
    layers = lambda p: [(layer.get('id'), layer.get('type'))  # noqa: E731
                        for layer in ET.parse(p).getroot().find('layers')]
    edges = lambda p: [sorted(edge.attrib.items())  # noqa: E731
                       for edge in ET.parse(p).getroot().find('edges')]
    assert layers(path) == layers(toy_int8.ov_int8) and edges(path) == edges(toy_int8.ov_int8)


def test_openvino_int8_quantizes_the_attention_products(toy_int8):
    """NNCF's IR: every Linear and every conv but the head's output layers on int8 inputs, as
    ONNX Runtime's file, and besides them q @ k^T of every attention (8 in the toy's 4 blocks of
    inner and outer attention); OpenVINO runs them in integer kernels."""
    kinds = collections.Counter(quantizable_nodes(toy_int8.fp32).values())
    counts = toy_int8.ov_counts
    assert counts['linear'] == kinds['linear'] == 37
    assert counts['conv'] == kinds['conv'] == 30  # (output layers: their own category)
    assert counts['activations'] >= 8
    assert integer_product_kinds(ov.Core().read_model(toy_int8.ov_int8)) == counts
    runtime = OpenVINOModel(toy_int8.ov_int8)
    assert runtime.precision == 'int8'
    # (OpenVINO's runtime model may fuse a product into a neighbour: counted, not every one)
    assert runtime.integer_ops > counts['linear'] + counts['conv']


def test_openvino_ir_model_file_checked(toy_int8, tmp_path):
    with pytest.raises(ValueError, match='is an OpenVINO IR: run it with --backend openvino'):
        check_backend_args('onnxruntime', 'int8', toy_int8.ov_int8)
    with pytest.raises(ValueError, match='is quantized'):
        check_backend_args('openvino', 'fp32', toy_int8.ov_int8)
    check_backend_args('openvino', 'int8', toy_int8.ov_int8, 0)  # already int8
    float_ir = str(tmp_path / 'float.xml')
    ov.save_model(ov.Core().read_model(toy_int8.fp32), float_ir, compress_to_fp16=False)
    with pytest.raises(ValueError, match='float OpenVINO IR: int8 is quantized from the .onnx'):
        check_backend_args('openvino', 'int8', float_ir)
    check_backend_args('openvino', 'fp32', float_ir)
    not_ir = tmp_path / 'notes.xml'
    not_ir.write_text('<notes><note>not a model</note></notes>')
    with pytest.raises(ValueError, match='holds no <layers>: not an OpenVINO IR'):
        check_backend_args('openvino', 'int8', str(not_ir))
    no_bin = tmp_path / 'no_bin.xml'
    no_bin.write_bytes(Path(toy_int8.ov_int8).read_bytes())
    with pytest.raises(ValueError, match='no_bin.bin are missing'):
        check_backend_args('openvino', 'int8', str(no_bin))
    with pytest.raises(ValueError, match='as NAME.xml'):
        quantize_openvino_int8(toy_int8.fp32, str(tmp_path / 'x.onnx'), toy_int8.calib[:1])
    with pytest.raises(ValueError, match='needs calibration data'):
        quantize_openvino_int8(toy_int8.fp32, str(tmp_path / 'x.xml'), [])
    with pytest.raises(ValueError, match="exclude names no node of .*'/no/such/MatMul'"):
        quantize_openvino_int8(toy_int8.fp32, str(tmp_path / 'x.xml'), toy_int8.calib[:1],
                               exclude=['/no/such/MatMul'])


@pytest.fixture
def bf16_override(monkeypatch):
    def set_to(value):
        monkeypatch.setenv('MMTNT_CPU_BF16', value)
        cpu_bf16_support.cache_clear()

    yield set_to
    monkeypatch.delenv('MMTNT_CPU_BF16', raising=False)
    cpu_bf16_support.cache_clear()


def test_bf16_refused_without_native_instructions(bf16_override, toy_int8):
    bf16_override('0')
    with pytest.raises(ValueError, match='avx512_bf16 / amx_bf16.*Sapphire Rapids'):
        check_bf16_cpu()
    with pytest.raises(ValueError, match='needs native bfloat16'):
        OpenVINOModel(toy_int8.fp32, precision='bf16')
    with pytest.raises(ValueError, match='needs native bfloat16'):
        check_backend_args('openvino', 'bf16')


def test_bf16_hint_read_back_and_labelled_as_what_runs(bf16_override, toy_int8):
    """Rehearsed as a bf16 CPU: OpenVINO says what it runs; on a CPU without bf16 it keeps f32 and
    the figures are labelled fp32 (logged), never bf16."""
    bf16_override('1')
    runtime = OpenVINOModel(toy_int8.fp32, precision='bf16')
    assert runtime.precision == {'bf16': 'bf16', 'f32': 'fp32'}[runtime.hint]
    native = bool(re.search(r'avx512_bf16|amx_bf16', open('/proc/cpuinfo').read())) \
        if os.path.exists('/proc/cpuinfo') else None
    if native is False:
        assert runtime.hint == 'f32'


@pytest.mark.parametrize('args, message', [
    (('onnxruntime', 'bf16'), 'bf16 is for --backend openvino'),
    (('openvino', 'int8', None, 0), 'needs calibration images'),
    (('onnxruntime', 'fp32', None, DEFAULT_CALIB, 'pytorch'), 'runs in one process'),
    (('pytorch', 'int8'), '--backend pytorch evaluates'),
    (('openvino', 'fp32', 'missing.onnx'), 'no such file'),
])
def test_backend_arguments_refused_with_the_reason(args, message):
    with pytest.raises(ValueError, match=message):
        check_backend_args(*args)


def test_quantized_or_float_model_file_must_match_the_precision(toy_int8):
    with pytest.raises(ValueError, match='is quantized'):
        check_backend_args('openvino', 'fp32', toy_int8.int8)
    with pytest.raises(ValueError, match='float --model .* needs calibration images'):
        check_backend_args('onnxruntime', 'int8', toy_int8.fp32, 0)
    check_backend_args('onnxruntime', 'int8', toy_int8.int8, 0)  # already int8: no calibration


def test_unexported_models_and_slide_inference_refused(tmp_path):
    with pytest.raises(ValueError, match='single-stage detectors'):
        deploy_model(_toy_model(_toy_cfg('faster_rcnn_tnt_toy.py')), None, 'onnxruntime')
    cfg = _toy_cfg('upernet_tnt_toy.py')
    cfg.model.test_cfg = dict(mode='slide', crop_size=(96, 96), stride=(64, 64))
    with pytest.raises(ValueError, match='model.test_cfg.mode=whole'):
        deploy_model(_toy_model(cfg), cfg, 'openvino', work_dir=str(tmp_path))


# tools/test.py end to end on a toy RetinaNet trained once per module


def _data_opts(data_root):
    opts = {f'{s}_dataloader.dataset.data_root': data_root for s in ('train', 'val', 'test')}
    opts.update({f'{s}_dataloader.{k}': v for s in ('train', 'val', 'test')
                 for k, v in (('num_workers', 0), ('persistent_workers', False))})
    opts.update({'val_evaluator.ann_file': data_root + 'coco/instances_val.json',
                 'test_evaluator.ann_file': data_root + 'coco/instances_val.json'})
    return [f'{k}={v}' for k, v in opts.items()]


def _run(args):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    return log


@pytest.fixture(scope='module')
def trained_toy(tmp_path_factory, toy_data_root):
    """configs/toy/retinanet_tnt_toy.py after 60 iterations (~30 s): boxes that score; and the
    bbox mAP / mAP_50 of its validation at the end, in PyTorch (the toy's test set is its
    validation set: what tools/test.py --backend pytorch gives)."""
    work = tmp_path_factory.mktemp('trained')
    log = _run(['tools/train.py', 'configs/toy/retinanet_tnt_toy.py', '--work-dir', str(work),
                '--cfg-options', 'train_cfg.max_iters=60', 'train_cfg.val_interval=60',
                'default_hooks.checkpoint.interval=60', 'train_dataloader.batch_size=4',
                'model.test_cfg.score_thr=0.0'] + _data_opts(toy_data_root))
    return work / 'iter_60.pth', toy_data_root, _bbox_map(log)


def _bbox_map(log):
    found = re.findall(r'bbox_mAP_copypaste: ([\d.]+) ([\d.]+)', log)
    assert found, log[-3000:]
    return float(found[-1][0]), float(found[-1][1])


def _test_tool(trained_toy, work, *args):
    ckpt, data_root, _ = trained_toy
    log = _run(['tools/test.py', 'configs/toy/retinanet_tnt_toy.py', str(ckpt), '--work-dir',
                str(work)] + list(args) + ['--cfg-options', 'model.test_cfg.score_thr=0.0'] +
               _data_opts(data_root))
    return (*_bbox_map(log), log)


def _timed_alike(log, label):
    """tools/test.py's per-image figure, measured the same way for every backend."""
    pattern = (re.escape(label) + r' on .*: ([\d.]+) s/image \(median over \d+ batches, the '
               r'first left out; test_step after its data preprocessing: the network and the '
               r'post-processing')
    found = re.search(pattern, log)
    assert found, log[-3000:]
    return float(found.group(1))


@pytest.mark.slow
def test_tools_test_backends_give_the_pytorch_metrics(trained_toy, tmp_path):
    """tools/test.py in PyTorch, in OpenVINO int8 (exported and quantized on the fly, as a user
    runs it, then the IR it wrote as --model) and ONNX Runtime int8, against the checkpoint's
    PyTorch validation; every run logs seconds per image measured alike. fp32
    backends against PyTorch: test_openvino_fp32_equals_pytorch_at_sizes_not_seen_at_export
    and test_onnx.py's predictions, through the same DeployedModel.predict."""
    ref = trained_toy[2]
    assert ref[1] > 0  # the toy detects something: the comparison is not between zeros
    *got, log = _test_tool(trained_toy, tmp_path / 'pt')
    assert np.allclose(got, ref, atol=1e-3), ('pytorch', got, ref)
    assert _timed_alike(log, 'pytorch fp32') >= 0
    *got, log = _test_tool(trained_toy, tmp_path / 'ov8', '--backend', 'openvino',
                           '--precision', 'int8', '--calib', '8')
    assert np.allclose(got, ref, atol=INT8_MAP_TOL), ('openvino int8', got, ref)
    assert _timed_alike(log, 'openvino int8 (INFERENCE_PRECISION_HINT=f32)') >= 0
    assert re.search(r'openvino int8: [\d.]+ s/image \(.*the backend call alone', log)
    ir = tmp_path / 'ov8' / 'deploy_int8_openvino_calib8.xml'
    *again, log = _test_tool(trained_toy, tmp_path / 'ov8_ir', '--backend', 'openvino',
                             '--precision', 'int8', '--model', str(ir))
    assert again == got and 'deploy_int8_openvino_calib8.xml' in log
    *got, log = _test_tool(trained_toy, tmp_path / 'ort8', '--backend', 'onnxruntime',
                           '--precision', 'int8', '--calib', '8')
    assert np.allclose(got, ref, atol=INT8_MAP_TOL), ('onnxruntime int8', got, ref)
    assert _timed_alike(log, 'onnxruntime int8') >= 0
