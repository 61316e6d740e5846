"""The COCO detection configs (TNT-S, PyramidTNT-S) on synthetic inputs: a training step and a
prediction each, at 481x803 (~1660 TNT-S patches: past 1024 keys, the fused attention kernel;
sides that are not multiples of 32), with the ImageNet download switched off
(``init_cfg=None``, as ``--cfg-options model.backbone.init_cfg=None`` does). The training step
checks what DDP needs of each config (every parameter gets a gradient); the DDP run itself is in
test_multiprocess_configs.py. PyramidTNT runs at COCO's 800x1333 in test_pyramid_tnt.py."""
from pathlib import Path

import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

CONFIGS = Path(__file__).parents[1] / 'configs'


def _build(name, with_optim=False):
    cfg = Config.fromfile(str(CONFIGS / name))
    if 'init_cfg' in cfg.model.backbone:
        cfg.merge_from_dict({'model.backbone.init_cfg': None})
    # untrained heads score every class near 1 / num_classes: keep all boxes to check them
    test_cfg = cfg.model.test_cfg.get('rcnn', cfg.model.test_cfg)
    if 'score_thr' in test_cfg:
        test_cfg.score_thr = 0.0
    with DefaultScope.overwrite_default_scope('mmdet'):
        init_default_scope('mmdet')
        from mmdet.registry import MODELS
        model = MODELS.build(cfg.model)
        if not with_optim:
            return model
        return model, *build_optim(model, cfg)


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


# (config under configs/, with masks, input size)
CASES = [('tnt/retinanet_tnt-s_fpn_1x_coco.py', False, (481, 803)),
         ('tnt/mask-rcnn_tnt-s_fpn_1x_coco.py', True, (481, 803)),
         ('tnt/faster-rcnn_tnt-s_fpn_1x_coco.py', False, (481, 803)),
         ('tnt/detr_tnt-s_8xb2-50e_coco.py', False, (481, 803)),
         ('pyramid_tnt/retinanet_pyramid-tnt-s_fpn_1x_coco.py', False, (481, 803)),
         ('pyramid_tnt/mask-rcnn_pyramid-tnt-s_fpn_1x_coco.py', True, (481, 803))]


@pytest.mark.slow
@pytest.mark.parametrize('name, with_mask, size', CASES)
def test_train_step_and_predict(name, with_mask, size):
    torch.manual_seed(0)
    model, optim_wrapper, schedulers = _build(name, with_optim=True)
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, *size)], num_items=[3],
                            num_classes=80, with_mask=with_mask)
    model.train()
    data = model.data_preprocessor(packed, True)
    d = model.data_preprocessor.pad_size_divisor  # 32, or 1 for DETR: TNT pads by itself
    assert data['inputs'].shape[-2:] == tuple(-(-s // d) * d for s in size)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    step_as_trained(model, optim_wrapper, schedulers, total)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)

    model.eval()
    with torch.no_grad():
        result = model(**model.data_preprocessor(packed, False), mode='predict')[0]
    boxes = result.pred_instances.bboxes
    h, w = result.ori_shape
    assert boxes.shape[0] > 0 and torch.isfinite(boxes).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    if with_mask:
        assert result.pred_instances.masks.shape[-2:] == (h, w)
