"""The COCO detection configs (TNT-S, PyramidTNT-S) on synthetic inputs: a training step and a
prediction each, at 241x403 (a 16x26 TNT-S patch grid, resampled from the 14x14 ImageNet grid;
sides that are not multiples of 32), with the ImageNet download switched off
(``init_cfg=None``, as ``--cfg-options model.backbone.init_cfg=None`` does). The training step
checks what DDP needs of each config (every parameter gets a gradient); the DDP run itself is in
test_multiprocess_configs.py. PyramidTNT runs at COCO's 800x1333 in test_pyramid_tnt.py."""
import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config

from helpers.configs import CASES, CONFIG_DIR, build_in_scope, build_optim, step_as_trained


def _build(name, with_optim=False):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    if 'init_cfg' in cfg.model.backbone:
        cfg.merge_from_dict({'model.backbone.init_cfg': None})
    # untrained heads score every class near 1 / num_classes: keep all boxes to check them
    test_cfg = cfg.model.test_cfg.get('rcnn', cfg.model.test_cfg)
    if 'score_thr' in test_cfg:
        test_cfg.score_thr = 0.0
    model = build_in_scope(cfg, 'model')
    if not with_optim:
        return model
    return model, *build_optim(model, cfg)


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
