"""The shipped configs as the tests take them: the list of configs, the ones each codebase's
training-step tests cover, building in a config's scope, and a training step as the runner
takes it."""
import importlib
from pathlib import Path

import torch
from mmengine.registry import DefaultScope, init_default_scope

from . import ROOT

CONFIG_DIR = ROOT / 'configs'
CONFIGS = sorted(str(p) for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
# configs/*.py: entry points that are one method's config as it is (configs/retinanet_tnt_s.py,
# which the guides' commands use); every other config sits in its method's folder or configs/toy/
ALIASES = [c for c in CONFIGS if Path(c).parent == CONFIG_DIR]

# the COCO configs' training step and prediction (models/test_detection.py):
# (config under configs/, with masks, input size: odd, below the configs' 800x1333 to keep the
# CPU step short; every level of the FPNs up to stride 128 stays at least 2x2)
CASES = [('tnt/retinanet_tnt-s_fpn_1x_coco.py', False, (241, 403)),
         ('tnt/mask-rcnn_tnt-s_fpn_1x_coco.py', True, (241, 403)),
         ('tnt/faster-rcnn_tnt-s_fpn_1x_coco.py', False, (241, 403)),
         ('tnt/detr_tnt-s_8xb2-50e_coco.py', False, (241, 403)),
         ('pyramid_tnt/retinanet_pyramid-tnt-s_fpn_1x_coco.py', False, (241, 403)),
         ('pyramid_tnt/mask-rcnn_pyramid-tnt-s_fpn_1x_coco.py', True, (241, 403))]

# the ADE20K configs' training step and prediction (models/test_segmentation.py): paths under
# configs/
SEGMENTORS = ['tnt/upernet_tnt-s_8xb2-160k_ade20k-512x512.py',
              'pyramid_tnt/upernet_pyramid-tnt-s_8xb2-160k_ade20k-512x512.py',
              'trans2seg/trans2seg_tnt-s_8xb2-160k_ade20k-512x512.py']


def build_in_scope(cfg, what):
    registry = importlib.import_module(f'{cfg.default_scope}.registry')
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        init_default_scope(cfg.default_scope)
        if what == 'model':
            return registry.MODELS.build(cfg.model)
        return registry.DATASETS.build(what)


def build_optim(model, cfg):
    """The config's optimizer wrapper (its constructor: layer decay, custom keys) and parameter
    schedulers for ``model``, as the runner builds them."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optim_wrapper))
                  for s in cfg.param_scheduler]
    return optim_wrapper, schedulers


def step_as_trained(model, optim_wrapper, schedulers, loss):
    """Backward, then the config's optimizer (its constructor: layer decay) and schedules take
    a step that moves the backbone. Every parameter, not only the backbone's, gets a gradient:
    the configs train under DDP with find_unused_parameters=False, which fails on one that
    gets none."""
    optim_wrapper.backward(loss)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    before = [p.detach().clone() for p in model.backbone.parameters()]
    optim_wrapper.step()
    for scheduler in schedulers:
        scheduler.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.backbone.parameters()))


def seg_inputs(h, w, batch=1, num_classes=150):
    """A segmentor's packed inputs: ``batch`` random (h, w) images with random labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w)))
        sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        samples.append(sample)
    return dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for _ in range(batch)],
                data_samples=samples)
