import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from mmtnt import TNTBackbone
from mmtnt.engine import tnt_layer_id

from helpers import TINY_ARCH


class _Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = TNTBackbone(arch=TINY_ARCH)
        self.neck = nn.Conv2d(48, 8, 1)


def _build(rate=0.5, lr=1.0, **extra):
    cfg = dict(type='OptimWrapper', constructor='TNTLayerDecayOptimizerConstructor',
               optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05),
               paramwise_cfg=dict(layer_decay_rate=rate, **extra))
    model = _Detector()
    return model, build_optim_wrapper(model, cfg)


@pytest.mark.parametrize('name, layer', [
    ('backbone.pixel_embed.proj.weight', 0), ('backbone.cls_token', 0),
    ('module.backbone.patch_pos', 0), ('backbone.stem_proj.fc.weight', 0),
    ('backbone.blocks.0.inner.attn.qkv.weight', 1), ('backbone.blocks.2.outer.mlp.fc1.bias', 3),
    ('backbone.norm.weight', 4), ('neck.weight', 4), ('bbox_head.conv.weight', 4)])
def test_layer_ids(name, layer):
    assert tnt_layer_id(name, num_layers=3) == layer


def test_learning_rates_and_weight_decay():
    model, wrapper = _build(rate=0.5, lr=1.0)
    group_of = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    blocks = TINY_ARCH['num_layers']

    def group(param):
        return group_of[id(param)]

    assert group(model.neck.weight)['lr'] == 1.0
    assert group(model.backbone.blocks[2].outer.attn.qkv.weight)['lr'] == 0.5
    assert group(model.backbone.blocks[0].inner.attn.qkv.weight)['lr'] == 0.5**blocks
    assert group(model.backbone.pixel_embed.proj.weight)['lr'] == 0.5**(blocks + 1)
    assert group(model.backbone.blocks[0].inner.attn.qkv.weight)['weight_decay'] == 0.05
    for p in (model.backbone.patch_pos, model.backbone.cls_token, model.backbone.norm.weight,
              model.backbone.blocks[1].outer.attn.proj.bias):
        assert group(p)['weight_decay'] == 0.
    n_params = sum(len(g['params']) for g in wrapper.optimizer.param_groups)
    assert n_params == len(list(model.parameters()))


def test_groups_are_logged(tmp_path):
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmtnt_layer_decay_log', log_file=str(tmp_path / 'log.txt'))
    _build(rate=0.9)
    text = (tmp_path / 'log.txt').read_text()
    assert 'layer decay rate 0.9 over 3 TNT blocks' in text and 'layer_0_decay' in text


@pytest.mark.parametrize('paramwise, match', [
    (dict(), 'layer_decay_rate'), (dict(layer_decay_rate=1.5), r'\(0, 1\]'),
    (dict(layer_decay_rate=0.7, norm_decay_mult=0.), 'only layer_decay_rate')])
def test_bad_paramwise_cfg(paramwise, match):
    cfg = dict(type='OptimWrapper', constructor='TNTLayerDecayOptimizerConstructor',
               optimizer=dict(type='AdamW', lr=1.0), paramwise_cfg=paramwise)
    with pytest.raises(ValueError, match=match):
        build_optim_wrapper(_Detector(), cfg)
