"""The ADE20K configs (UperNet-TNT, UperNet-PyramidTNT, Trans2Seg-TNT): a training step on an
image smaller than the crop (padded to 512x512, as every training batch reaches the model), whole
prediction at sides that are not multiples of 16, and slide prediction over two overlapping
windows."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from helpers.configs import (CONFIG_DIR, SEGMENTORS, build_in_scope, build_optim, seg_inputs,
                             step_as_trained)


@pytest.fixture(scope='module', params=SEGMENTORS)
def segmentor(request):
    cfg = Config.fromfile(str(CONFIG_DIR / request.param))
    if 'init_cfg' in cfg.model.backbone:  # the ImageNet download switched off
        cfg.merge_from_dict({'model.backbone.init_cfg': None})
    torch.manual_seed(0)
    model = build_in_scope(cfg, 'model')
    model.config = cfg  # (for the optimizer and schedules of the training step)
    return model


@pytest.mark.slow
def test_train_step(segmentor, size=(500, 375)):
    segmentor.train()
    # UperNet: 2 images, as the config's per-GPU batch (its 1x1 pooling branch has a BatchNorm);
    # Trans2Seg: 1 (its mask head holds 150 classes x 64 channels at stride 4: ~6 GB an image)
    batch = 1 if type(segmentor.decode_head).__name__ == 'Trans2SegHead' else 2
    data = segmentor.data_preprocessor(seg_inputs(*size, batch=batch), True)
    assert data['inputs'].shape[-2:] == (512, 512)  # padded to the crop size
    total, _ = segmentor.parse_losses(segmentor(**data, mode='loss'))
    assert torch.isfinite(total)
    with DefaultScope.overwrite_default_scope('mmseg'):
        optim_wrapper, schedulers = build_optim(segmentor, segmentor.config)
    optim_wrapper.zero_grad()
    # (the DDP run of one ADE20K config: test_multiprocess_configs.py)
    step_as_trained(segmentor, optim_wrapper, schedulers, total)


@pytest.mark.slow
@pytest.mark.parametrize('mode, size', [
    ('whole', (500, 375)),  # sides that are not multiples of 16: the backbone pads
    ('slide', (600, 375)),  # two overlapping 512x375 windows (stride 341), merged
])
def test_predict(segmentor, mode, size):
    segmentor.eval()
    segmentor.test_cfg.mode = mode
    with torch.no_grad():
        result = segmentor(**segmentor.data_preprocessor(seg_inputs(*size), False),
                           mode='predict')[0]
    assert result.pred_sem_seg.data.shape == (1, *size)
    logits = result.seg_logits.data
    assert logits.shape == (150, *size) and torch.isfinite(logits).all()
