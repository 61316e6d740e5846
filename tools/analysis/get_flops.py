"""Parameters and FLOPs of a config's model at one input size, counted by mmengine's analysis.

    python tools/analysis/get_flops.py CONFIG [--shape H W] [--part whole|features|backbone]

What is counted:

- **Params**: every parameter of the model the config builds (``mmengine.analysis.
  parameter_count``, the sum of ``numel()`` over ``model.parameters()``), including parts that
  only train (e.g. UperNet's auxiliary head); with ``--part``, those of the backbone (and neck).
  No weights are loaded: the backbone's ``init_cfg`` is dropped, so nothing is downloaded.
- **FLOPs**: mmengine's ``FlopAnalyzer`` (the counter behind ``get_model_complexity_info``, from
  fvcore) on one image of H x W after the config's data preprocessor (normalised, padded to its
  ``pad_size_divisor``), through ``model.forward(mode='tensor')`` as MMDetection's and
  MMSegmentation's get_flops tools do: backbone, neck and heads, no loss, box decoding, NMS or
  resizing of the logits. **One multiply-add counts as one FLOP** (the convention of fvcore,
  detectron2 and the TNT / PyramidTNT papers' "FLOPs"; tools/benchmark.py counts by another
  convention: docs/advanced/speed.md#flops). Counted: convolutions, matrix products (linear,
  matmul, bmm, einsum), normalisations, interpolation, adaptive pooling, and - added here, as
  the two matrix products it is - ``scaled_dot_product_attention``, so attention counts the same
  through the fused and the manual kernel. Element-wise operations (activations, additions,
  softmax) and operators without a rule (e.g. mmcv's RoIAlign) count zero; the tool lists them.
- Two-stage detectors (Faster / Mask R-CNN): the RoI heads run on the proposals the RPN keeps
  for the input (at most the config's ``test_cfg.rpn.max_per_img``), so their part depends on
  the image; the tool seeds its random image (``--seed``) and prints the proposal count.

The default size is the config's training size: the segmentation preprocessor's ``size`` (the
crop), else the largest scale of the training pipeline's resize (keep-ratio scales are (long,
short) sides, taken as a landscape image: COCO's (1333, 800) is H=800, W=1333).
"""
import argparse
import os.path as osp
from functools import partial
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from mmtnt.utils.tool_config import build_model

PARTS = ('whole', 'features', 'backbone')
RESIZES = ('Resize', 'RandomResize', 'RandomChoiceResize')


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::scaled_dot_product_attention``: queries x keys, then weights x values, one
    multiply-add per FLOP (as mmengine's matmul rule): batch x L x S x (E + Ev)."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _scales(pipeline) -> List[Tuple[int, int]]:
    found = []
    for t in pipeline or []:
        if isinstance(t, (list, tuple)):  # RandomChoice's branches
            found += _scales(t)
            continue
        if not isinstance(t, dict):
            continue
        if t.get('type') in RESIZES:
            scale = t.get('scale', t.get('scales'))
            if isinstance(scale, int):
                scale = (scale, scale)
            if scale is None:
                continue
            if isinstance(scale[0], (list, tuple)):
                found += [tuple(s) for s in scale]
            else:
                found.append(tuple(scale))
        found += _scales(t.get('transforms'))
    return found


def training_shape(cfg: Config) -> Tuple[int, int]:
    """(H, W) of a training image as it reaches the model, before padding (see the module doc).

    Raises:
        ValueError: neither a preprocessor ``size`` nor a resize in the training pipeline.
    """
    pre = cfg.model.get('data_preprocessor') or {}
    if pre.get('size'):
        return tuple(pre['size'])
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    scales = _scales(dataset.get('pipeline'))
    if not scales:
        raise ValueError('The training size of this config is not in its data preprocessor '
                         '(size) nor in a resize of its training pipeline: pass --shape H W.')
    long, short = max(scales, key=lambda s: s[0] * s[1])
    return min(long, short), max(long, short)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config with ``cfg_options`` merged and no pretrained weights to load.

    Raises:
        ValueError: ``path`` is not a file.
    """
    if not osp.isfile(path):
        raise ValueError(f'No config file {path!r}.')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.model.get('backbone') is not None:
        cfg.model.backbone.init_cfg = None
    if 'pretrained' in cfg.model:
        cfg.model.pretrained = None
    return cfg


def _batch(preprocessor: nn.Module, scope: str, shape: Tuple[int, int]) -> Dict[str, Any]:
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), scale_factor=(1., 1.))
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample
        sample = SegDataSample(metainfo=meta)
    else:
        from mmdet.structures import DetDataSample
        sample = DetDataSample(metainfo=meta)
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    return preprocessor(dict(inputs=[image], data_samples=[sample]), False)


class _Part(nn.Module):
    """Calls ``fn(inputs)``; registered under the model so module names stay the model's."""

    def __init__(self, model: nn.Module, fn) -> None:
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, inputs: torch.Tensor):
        return self.fn(inputs)


def count(cfg: Config,
          shape: Optional[Tuple[int, int]] = None,
          part: str = 'whole',
          seed: int = 0) -> Dict[str, Any]:
    """Build ``cfg``'s model and count it at ``shape`` (H, W; default :func:`training_shape`).

    Returns:
        dict: ``params`` (int, of the part counted), ``flops`` (int, one multiply-add = 1),
        ``input_shape`` (the (H, W) the model receives, after padding), ``shape`` (before
        padding), ``uncounted`` (Counter of the traced operators that count zero),
        ``proposals`` (two-stage detectors: the RoIs the heads ran on, else None).

    Raises:
        ValueError: a bad ``shape`` or ``part``, or a config of another scope than mmdet / mmseg.
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}.')
    shape = tuple(shape) if shape is not None else training_shape(cfg)
    if len(shape) != 2 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f'shape must be two positive ints (H, W), got {shape!r}.')
    torch.manual_seed(seed)
    model = build_model(cfg)  # refuses scopes other than mmdet / mmseg
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    model = revert_sync_batchnorm(model).eval()
    data = _batch(model.data_preprocessor, scope, shape)
    inputs = data['inputs']
    proposals = None
    if part == 'backbone':
        traced = model.backbone
    elif part == 'features':
        traced = _Part(model, model.extract_feat)
    else:
        traced = _Part(model, partial(model.forward, data_samples=data['data_samples'],
                                      mode='tensor'))
        if getattr(model, 'with_rpn', False):
            with torch.no_grad():
                rpn = model.rpn_head.predict(model.extract_feat(inputs), data['data_samples'],
                                             rescale=False)
            proposals = len(rpn[0])
    analyzer = FlopAnalyzer(traced, (inputs, ))
    analyzer.set_op_handle(**{'aten::scaled_dot_product_attention': sdpa_flop_jit})
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad():
        flops = analyzer.total()
    counted = [model.backbone if part == 'backbone' else model]
    if part == 'features':
        counted = [model.backbone] + ([model.neck] if getattr(model, 'neck', None) is not None
                                      else [])
    params = sum(parameter_count(m)[''] for m in counted)
    return dict(params=params, flops=flops, shape=shape,
                input_shape=tuple(inputs.shape[-2:]), uncounted=analyzer.unsupported_ops(),
                proposals=proposals)


def _size(n: float) -> str:
    return f'{n / 1e9:.2f} G' if n >= 1e9 else f'{n / 1e6:.2f} M'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs (one multiply-add = 1 FLOP, mmengine.analysis) of a '
        "config's model at one input size, through model.forward(mode='tensor'): backbone, "
        'neck and heads, without post-processing. No weights are loaded.')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', metavar='N',
                        help='input H W (or one N for N x N); default: the config\'s training '
                        'size (the segmentation crop, or the largest training resize scale)')
    parser.add_argument('--part', choices=PARTS, default='whole',
                        help="whole: model.forward(mode='tensor') (default); features: "
                        'backbone + neck (extract_feat); backbone: the backbone alone')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights and image (two-stage detectors\' RoI '
                        'count depends on them)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'no config file {args.config!r}')
    if args.shape is not None:
        if len(args.shape) not in (1, 2) or min(args.shape) < 1:
            parser.error(f'--shape takes H W or N (positive), got {args.shape}')
        if len(args.shape) == 1:
            args.shape = args.shape * 2
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    result = count(cfg, args.shape, args.part, args.seed)
    (h, w), (ph, pw) = result['shape'], result['input_shape']
    what = {'whole': "model.forward(mode='tensor'): backbone, neck and heads",
            'features': 'backbone + neck (extract_feat)', 'backbone': 'backbone'}[args.part]
    padded = f', padded to {ph}x{pw} by the data preprocessor' if (ph, pw) != (h, w) else ''
    print(f'config:  {args.config}')
    print(f'input:   1x3x{h}x{w}{padded}')
    print(f'counted: {what}')
    if result['proposals'] is not None:
        print(f'RoIs:    the RoI heads ran on {result["proposals"]} proposals (seed {args.seed})')
    print(f'params:  {_size(result["params"])} ({result["params"]})')
    print(f'FLOPs:   {_size(result["flops"])} ({result["flops"]}; one multiply-add = 1 FLOP)')
    uncounted = ', '.join(sorted(op.replace('aten::', '') for op in result['uncounted']))
    print(f'zero:    operators counted as 0 FLOPs: {uncounted or "none"}')


if __name__ == '__main__':
    main()
