"""Every config under configs/ builds its model (and, for the toy configs, its datasets)."""
import importlib
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

CONFIGS = sorted(str(p) for p in (Path(__file__).parents[1] / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def build_in_scope(cfg, what):
    registry = importlib.import_module(f'{cfg.default_scope}.registry')
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        init_default_scope(cfg.default_scope)
        if what == 'model':
            return registry.MODELS.build(cfg.model)
        return registry.DATASETS.build(what)


def test_configs_found():
    names = {Path(c).name for c in CONFIGS}
    assert {'retinanet_tnt_s.py', 'mask_rcnn_tnt_s.py', 'faster_rcnn_tnt_s_fpn_1x_coco.py',
            'detr_tnt_s_50e_coco.py', 'upernet_tnt_s_ade20k.py', 'fpn_tnt_s_ade20k.py',
            'retinanet_tnt_toy.py', 'mask_rcnn_tnt_toy.py', 'upernet_tnt_toy.py',
            'retinanet_pyramid_tnt_s_fpn_1x_coco.py', 'mask_rcnn_pyramid_tnt_s_fpn_1x_coco.py',
            'upernet_pyramid_tnt_s_ade20k.py', 'retinanet_pyramid_tnt_toy.py',
            'faster_rcnn_tnt_toy.py', 'trans2seg_tnt_s_ade20k.py', 'trans2seg_tnt_toy.py'} <= names


OFFICIAL_TNT_S = ('https://github.com/huawei-noah/Efficient-AI-Backbones/releases/download/tnt/'
                  'tnt_s_81.5.pth.tar')


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: Path(p).name)
def test_full_configs_start_from_imagenet_toy_from_scratch(path):
    backbone = Config.fromfile(path).model.backbone
    if '/toy/' in path or 'pyramid' in path:  # PyramidTNT's weights have no public URL
        assert backbone.get('init_cfg') is None
    else:
        assert backbone.init_cfg == dict(type='Pretrained', checkpoint=OFFICIAL_TNT_S)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: Path(p).name)
def test_config_builds_model(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['mmtnt']
    # DDP without find_unused_parameters: what the training steps' every-parameter-gets-a-
    # gradient checks stand for (test_multiprocess_configs.py)
    wrapper = cfg.get('model_wrapper_cfg') or {}
    assert not wrapper.get('find_unused_parameters', cfg.get('find_unused_parameters'))
    # tools/train.py --auto-scale-lr: the total batch (GPUs x batch per GPU) the lr was set for
    base = cfg.get('auto_scale_lr', {}).get('base_batch_size')
    assert isinstance(base, int) and base >= cfg.train_dataloader.batch_size
    model = build_in_scope(cfg, 'model')
    assert type(model.backbone).__name__ == ('PyramidTNT' if 'pyramid' in path else 'TNTBackbone')


@pytest.mark.parametrize('path', [c for c in CONFIGS if '/toy/' in c], ids=lambda p: Path(p).name)
def test_toy_config_builds_datasets(path, toy_data_root):
    cfg = Config.fromfile(path)
    for loader in ('train_dataloader', 'val_dataloader'):
        ds_cfg = cfg[loader].dataset
        ds_cfg.data_root = toy_data_root
        dataset = build_in_scope(cfg, ds_cfg)
        assert len(dataset) > 0
        assert dataset.metainfo['classes'][-1] == 'triangle'

