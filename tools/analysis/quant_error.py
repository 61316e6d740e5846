"""How much each part of a model loses to int8: the data behind what mmtnt.deploy.quantize (ONNX
Runtime's file) and mmtnt.deploy.quantize_openvino (NNCF's, for OpenVINO) keep in float.

    python tools/analysis/quant_error.py CONFIG CHECKPOINT [--calib 32] [--images 16]
        [--groups linear conv attention resampling output] [--per-node]

Exports the model (dynamic shapes, the config's test size), calibrates on the first --calib
training images, and on the first --images test images prints the error of the graph's outputs
against float32 (SQNR in dB, higher is better: 20 dB = 10% noise, 40 dB = 1%; and the largest
difference relative to each output's largest magnitude) when

- one node group alone is quantized (``linear``: Linear layers; ``conv``: convolutions;
  ``attention``: q @ k^T and attn @ v; ``resampling``: position-grid and pooling products;
  ``output``: the head's last layers), and
- mmtnt's default set (linear + conv), with the calibration variants (min/max or percentile,
  int8 or uint8 activations).

With --per-node, per quantized tensor of the default model, the SQNR of the int8 model's
activation against float32's (ONNX Runtime's qdq_loss_debug), in graph order.
"""
import argparse
import os.path as osp
import tempfile
import time

import numpy as np
import onnx
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import load_checkpoint

from mmtnt.deploy import OnnxRuntimeModel, OpenVINOModel, default_shape, export_onnx
from mmtnt.deploy.quantize import (DEFAULT_GROUPS, BatchReader, calibration_batches,
                                   quantizable_nodes, quantize_int8)
from mmtnt.deploy.quantize_openvino import integer_products_by_name, quantize_openvino_int8
from mmtnt.utils import build_model

GROUPS = ('linear', 'conv', 'attention', 'resampling', 'output')


def parse_args():
    parser = argparse.ArgumentParser(description='int8 error per node group / per node')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--calib', type=int, nargs='+', default=[32],
                        help='calibration images (train set); several: the default set is also '
                        'quantized with each of the others (error and time against N)')
    parser.add_argument('--images', type=int, default=16, help='test images the error is on')
    parser.add_argument('--groups', nargs='*', default=list(GROUPS), choices=GROUPS,
                        help='groups to quantize one at a time')
    parser.add_argument('--variants', action='store_true',
                        help='also the default set with percentile calibration, uint8 '
                        'activations, and with the output layers or attention quantized')
    parser.add_argument('--openvino', action='store_true',
                        help='also run each int8 file in OpenVINO, and measure OpenVINO\'s own '
                        'int8 model (NNCF\'s; per product with --per-node)')
    parser.add_argument('--per-node', action='store_true', help='SQNR per quantized tensor')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - got) ** 2))
    return float('inf') if noise == 0 else 10 * np.log10(float(np.sum(ref.astype(np.float64)
                                                                        ** 2)) / noise)


def output_error(ref_outputs, got_outputs):
    """Worst over outputs of SQNR (all images together) and of relative max difference."""
    worst_sqnr, worst_rel = float('inf'), 0.
    for i in range(len(ref_outputs[0])):
        ref = np.concatenate([r[i].ravel() for r in ref_outputs])
        got = np.concatenate([g[i].ravel() for g in got_outputs])
        worst_sqnr = min(worst_sqnr, sqnr(ref, got))
        worst_rel = max(worst_rel, float(np.abs(ref - got).max() / np.abs(ref).max()))
    return worst_sqnr, worst_rel


def run_all(path, batches, backend=OnnxRuntimeModel):
    runtime = backend(path)
    return [runtime.run(b) for b in batches]


def per_node_report(fp32, int8, batches, tmp):
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations,
                                                         compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    aug_f, aug_q = osp.join(tmp, 'aug_fp32.onnx'), osp.join(tmp, 'aug_int8.onnx')
    modify_model_output_intermediate_tensors(fp32, aug_f)
    modify_model_output_intermediate_tensors(int8, aug_q)
    float_acts = collect_activations(aug_f, BatchReader(batches))
    qdq_acts = collect_activations(aug_q, BatchReader(batches))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    order = {out: i for i, node in enumerate(onnx.load(fp32).graph.node) for out in node.output}
    errors = dict(sorted(errors.items(), key=lambda item: order.get(item[0], -1)))
    print_log('per quantized tensor: SQNR (dB) of the int8 model\'s activation against '
              'float32 (accumulated error) | of its own quantization alone', logger='current')
    for name, err in errors.items():
        if 'xmodel_err' in err:
            print_log(f'  {err["xmodel_err"]:6.1f} | {err.get("qdq_err", float("nan")):6.1f}  '
                      f'{name}', logger='current')
    return errors


def openvino_per_node_report(fp32, ov_int8, batches):
    """Per product of NNCF's model on int8 inputs: the SQNR of its output against the float
    model's same op (OpenVINO keeps the ONNX node names; SmoothQuant's scales cancel there)."""
    import openvino as ov
    core = ov.Core()
    int8_model, float_model = core.read_model(ov_int8), core.read_model(fp32)
    names = integer_products_by_name(int8_model)
    float_ops = {op.get_friendly_name(): op for op in float_model.get_ops()}
    names = {n: k for n, k in names.items() if n in float_ops}
    int8_ops = {op.get_friendly_name(): op for op in int8_model.get_ops()}
    int8_model.add_outputs([int8_ops[n].output(0) for n in names])
    float_model.add_outputs([float_ops[n].output(0) for n in names])
    got, ref = ({n: [] for n in names} for _ in range(2))
    for model, store in ((int8_model, got), (float_model, ref)):
        compiled = core.compile_model(model, 'CPU')
        added = compiled.outputs[-len(names):]  # add_outputs appends, in the order given
        request = compiled.create_infer_request()
        for batch in batches:
            results = request.infer({0: batch})
            for name, output in zip(names, added):
                store[name].append(np.asarray(results[output]).ravel())
    print_log('per product on int8 inputs in OpenVINO\'s int8 model: SQNR (dB) of its output '
              'against float32 (accumulated error)', logger='current')
    for name, kind in names.items():
        db = sqnr(np.concatenate(ref[name]), np.concatenate(got[name]))
        print_log(f'  {db:6.1f}  {kind:11s} {name}', logger='current')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.setdefault('backbone', {})['init_cfg'] = None
    model = build_model(cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu', logger='current')
    model.eval()
    with tempfile.TemporaryDirectory(prefix='quant_error_') as tmp:  # the ONNX files go with it
        report(args, cfg, model, tmp)


def report(args, cfg, model, tmp: str) -> None:
    """Export into ``tmp``, quantize each setting and log its error against float32."""
    fp32 = osp.join(tmp, 'fp32.onnx')
    export_onnx(model, fp32, default_shape(cfg), dynamic=True)
    all_calib = calibration_batches(cfg, model, max(args.calib))
    calib = all_calib[:args.calib[0]]
    held_out = calibration_batches(cfg, model, args.images, split='test')
    ref = run_all(fp32, held_out)
    counts = {}
    for category in quantizable_nodes(fp32).values():
        counts[category] = counts.get(category, 0) + 1
    print_log(f'nodes per group: {counts}', logger='current')

    settings = [(f'{g} alone', dict(groups=(g, ))) for g in args.groups]
    settings.append((f'default ({" + ".join(DEFAULT_GROUPS)})', dict()))
    settings += [(f'default, calibrated on {n} images', dict(calib=all_calib[:n]))
                 for n in args.calib[1:]]
    if args.variants:
        settings += [
            ('default, percentile calibration', dict(method='percentile')),
            ('default, int8 activations (S8S8), full-range weights', dict(activation_type='int8')),
            ('default, uint8 activations + reduce_range', dict(activation_type='uint8')),
            ('default, float outputs', dict(quantize_outputs=False)),
            ('default + output layers', dict(groups=DEFAULT_GROUPS + ('output', ))),
            ('default + attention', dict(groups=DEFAULT_GROUPS + ('attention', ))),
            ('default + convs into ReLU -> add', dict(keep_relu_add_float=False)),
        ]
    print_log(f'int8 against float32 on {len(held_out)} test images, calibrated on '
              f'{len(calib)} training images: worst output SQNR (dB) | worst relative max '
              f'difference', logger='current')
    rows = []
    for label, kwargs in settings:
        out = osp.join(tmp, 'int8.onnx')
        start = time.perf_counter()
        try:
            quantize_int8(fp32, out, kwargs.pop('calib', calib), **kwargs)
        except ValueError as e:  # a group this model does not have
            rows.append(f'  not quantized: {label}: {e}')
            continue
        seconds = time.perf_counter() - start
        for backend in (OnnxRuntimeModel, OpenVINOModel)[:1 + args.openvino]:
            name = backend.backend
            try:
                db, rel = output_error(ref, run_all(out, held_out, backend))
            except Exception as e:  # noqa: BLE001  a group a backend cannot run: say so
                rows.append(f'  does not run in {name}: {label}: {str(e).splitlines()[0][:160]}')
                continue
            rows.append(f'  {db:6.1f} dB | {rel:.4f}  {label} ({name}; quantized in '
                        f'{seconds:.1f} s)')
    ov_int8 = osp.join(tmp, 'int8_openvino.xml')
    if args.openvino:
        start = time.perf_counter()
        counts = quantize_openvino_int8(fp32, ov_int8, calib)
        seconds = time.perf_counter() - start
        db, rel = output_error(ref, run_all(ov_int8, held_out, OpenVINOModel))
        rows.append(f'  {db:6.1f} dB | {rel:.4f}  OpenVINO\'s int8 model (NNCF: {counts}; '
                    f'quantized in {seconds:.1f} s)')
    for row in rows:
        print_log(row, logger='current')
    if args.per_node:
        int8 = osp.join(tmp, 'int8_default.onnx')
        quantize_int8(fp32, int8, calib)
        per_node_report(fp32, int8, held_out[:4], tmp)
        if args.openvino:
            openvino_per_node_report(fp32, ov_int8, held_out[:4])


if __name__ == '__main__':
    main()
