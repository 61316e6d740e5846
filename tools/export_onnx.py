"""Export a trained detector or segmentor to ONNX and check it in ONNX Runtime against PyTorch.

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--shape H W] [--dynamic]

The graph runs from the preprocessed batch (normalised and padded, as the config's
data_preprocessor gives it) to the dense head's outputs (single-stage detectors) or the class
logits (segmentors); box decoding / NMS and resizing stay in Python
(``mmtnt.deploy.OnnxRuntimeModel.predict``). With --dynamic, batch, height and width are free and
the check also runs at sizes the graph was not traced at. Exits with status 1 when ONNX Runtime
differs from PyTorch by more than --tolerance (relative to each output's largest magnitude).
"""
import argparse
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import load_checkpoint

from mmtnt.deploy import check_onnx, default_check_sizes, default_shape, export_onnx
from mmtnt.utils import build_model


def parse_size(text: str):
    try:
        batch, rest = text.split(':') if ':' in text else ('1', text)
        h, w = rest.lower().split('x')
        return int(batch), int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a size: write HxW or BATCH:HxW, '
                                         f'e.g. 97x301 or 2:512x683.')


def parse_args():
    parser = argparse.ArgumentParser(description='Export a model to ONNX and check it')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (path, URL or hf-hub: id)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size to trace (default: the size the config\'s test images '
                        'reach the model at)')
    parser.add_argument('--dynamic', action='store_true',
                        help='batch, height and width free in the graph (default: fixed)')
    parser.add_argument('--dynamo', action='store_true',
                        help='export through torch.export instead of TorchScript tracing')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (TorchScript route)')
    parser.add_argument('--check-sizes', type=parse_size, nargs='*',
                        help='sizes (HxW or BATCH:HxW) to compare ONNX Runtime with PyTorch at '
                        '(default: the traced size, and with --dynamic three others); none: '
                        'skip the check')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest relative difference accepted')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    return parser.parse_args()


def load_model(cfg: Config, checkpoint: str):
    cfg.model.setdefault('backbone', {})['init_cfg'] = None  # weights come from `checkpoint`
    model = build_model(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='current')
    return model.eval()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape) if args.shape else default_shape(cfg)
    if shape is None:
        raise ValueError(f'{args.config} names no test image size: give one with --shape H W.')
    model = load_model(cfg, args.checkpoint)
    export_onnx(model, args.out, shape, dynamic=args.dynamic, dynamo=args.dynamo,
                opset=args.opset)
    sizes = default_check_sizes(shape, args.dynamic) if args.check_sizes is None \
        else args.check_sizes
    if not sizes:
        return
    report = check_onnx(model, args.out, sizes)
    worst = max(r['max_rel'] for r in report)
    print_log(f'largest relative difference over {len(report)} sizes: {worst:.3g} '
              f'(tolerance {args.tolerance:g})', logger='current')
    if worst > args.tolerance:
        print_log('ONNX Runtime does not match PyTorch within the tolerance.', logger='current',
                  level=40)
        sys.exit(1)


if __name__ == '__main__':
    main()
