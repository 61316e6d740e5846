"""Every config under configs/ builds its model (and, for the toy configs, its datasets); the full
configs sit in their method's folder under MMDetection's / MMSegmentation's names, which say their
batch, schedule and crop, and inherit their backbone from configs/_base_/models."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

from helpers.configs import ALIASES, CONFIG_DIR, CONFIGS, build_in_scope

FULL = [c for c in CONFIGS if c not in ALIASES and Path(c).parent.name != 'toy']
# {algorithm}_{backbone}_{neck}_[{GPUs}xb{images per GPU}-]{schedule}_{dataset}[-{crop}]
NAME = re.compile(r'(?P<algorithm>[a-z0-9-]+)_(?P<backbone>[a-z0-9-]+)(?:_(?P<neck>[a-z0-9-]+))?'
                  r'_(?:(?P<gpus>\d+)xb(?P<per_gpu>\d+)-)?(?P<schedule>\d+(?:x|e|k))'
                  r'_(?P<dataset>coco|ade20k)(?:-(?P<crop>\d+x\d+))?\.py')


def test_configs_found():
    names = {str(Path(c).relative_to(CONFIG_DIR)) for c in CONFIGS}
    assert {'retinanet_tnt_s.py', 'tnt/retinanet_tnt-s_fpn_1x_coco.py',
            'tnt/mask-rcnn_tnt-s_fpn_1x_coco.py', 'tnt/faster-rcnn_tnt-s_fpn_1x_coco.py',
            'tnt/detr_tnt-s_8xb2-50e_coco.py', 'tnt/upernet_tnt-s_8xb2-160k_ade20k-512x512.py',
            'tnt/fpn_tnt-s_8xb2-160k_ade20k-512x512.py',
            'pyramid_tnt/retinanet_pyramid-tnt-s_fpn_1x_coco.py',
            'pyramid_tnt/mask-rcnn_pyramid-tnt-s_fpn_1x_coco.py',
            'pyramid_tnt/upernet_pyramid-tnt-s_8xb2-160k_ade20k-512x512.py',
            'trans2seg/trans2seg_tnt-s_8xb2-160k_ade20k-512x512.py',
            'toy/retinanet_tnt_toy.py', 'toy/mask_rcnn_tnt_toy.py', 'toy/upernet_tnt_toy.py',
            'toy/retinanet_pyramid_tnt_toy.py', 'toy/faster_rcnn_tnt_toy.py',
            'toy/trans2seg_tnt_toy.py'} <= names
    assert [str(Path(c).relative_to(CONFIG_DIR)) for c in ALIASES] == ['retinanet_tnt_s.py']


@pytest.mark.parametrize('path', FULL, ids=lambda p: Path(p).name)
def test_full_config_sits_with_its_method_under_a_true_name(path):
    folder = Path(path).parent
    assert (folder / 'README.md').is_file() and (folder / 'metafile.yml').is_file()
    name = NAME.fullmatch(Path(path).name)
    assert name, f'{Path(path).name}: not {NAME.pattern}'
    cfg = Config.fromfile(path)
    epochs, iters = cfg.train_cfg.get('max_epochs'), cfg.train_cfg.get('max_iters')
    schedule = name['schedule']
    if schedule.endswith('x'):  # MMDetection's 1x: 12 epochs
        assert epochs == 12 * int(schedule[:-1])
    elif schedule.endswith('e'):
        assert epochs == int(schedule[:-1])
    else:
        assert iters == 1000 * int(schedule[:-1])
    if name['per_gpu']:
        assert cfg.train_dataloader.batch_size == int(name['per_gpu'])
        assert cfg.auto_scale_lr.base_batch_size == int(name['gpus']) * int(name['per_gpu'])
    if name['crop']:
        assert tuple(cfg.crop_size) == tuple(int(s) for s in name['crop'].split('x'))
    # the backbone comes from configs/_base_/models (tnt_s.py, pyramid_tnt_s.py), not spelled out
    assert not re.search(r"type='(TNTBackbone|PyramidTNT)'", Path(path).read_text())


@pytest.mark.parametrize('path', ALIASES, ids=lambda p: Path(p).name)
def test_top_level_config_is_a_methods_config_as_it_is(path):
    text = Path(path).read_text()
    target = re.fullmatch(r"# .*\n_base_ = '\./([\w./-]+)'\n", text)
    assert target, text  # a comment that says which config it is, then only that _base_
    assert f'configs/{target[1]}' in text.splitlines()[0]
    assert str(CONFIG_DIR / target[1]) in FULL
    assert Config.fromfile(path).to_dict() == Config.fromfile(CONFIG_DIR / target[1]).to_dict()


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

