"""TNTBackbone builds from configs under the mmdet and mmseg scopes, via custom_imports."""
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import mmtnt  # noqa: F401  registers TNTBackbone (the tests below build it by name)

BACKBONE = "dict(type='TNTBackbone', arch='s', out_indices=(11, ))"


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_build_in_scope(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        init_default_scope(scope)
        model = registry.build(dict(type='TNTBackbone', arch='s'))
    assert type(model).__name__ == 'TNTBackbone'


@pytest.mark.parametrize('base, scope', [
    ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'mmdet'),
    ('mmseg::_base_/models/upernet_r50.py', 'mmseg'),
])
def test_build_from_inherited_config(tmp_path, base, scope):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        f"_base_ = '{base}'\n"
        "custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)\n"
        f"default_scope = '{scope}'\n"
        f"model = dict(backbone=dict(_delete_=True, **{BACKBONE}))\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.backbone.type == 'TNTBackbone'
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        init_default_scope(scope)
        backbone = registry.build(cfg.model.backbone)
    assert backbone.out_indices == [11]


def test_import_defers_mmdetection_and_mmsegmentation():
    """`import mmtnt` registers every type without importing MMDetection / MMSegmentation
    (seconds a backbone, a tool or a plain mmengine run does not need); building a toy dataset
    or Trans2SegHead by name imports them then, and the real class takes the registry entry."""
    import subprocess
    import sys
    code = (
        'import sys, mmtnt\n'
        'from mmengine.registry import DATASETS, MODELS\n'
        'heavy = lambda: sorted({m.split(".")[0] for m in sys.modules} & {"mmdet", "mmseg"})\n'
        'assert heavy() == [], heavy()\n'
        'assert DATASETS.get("ToyShapesCocoDataset").METAINFO["classes"][0] == "circle"\n'
        'assert heavy() == ["mmdet", "mmseg"], heavy()\n'
        'from mmseg.models.decode_heads.decode_head import BaseDecodeHead\n'
        'head = MODELS.build(dict(type="Trans2SegHead", in_channels=(24, 384), in_index=(1, 0),\n'
        '                         channels=32, num_classes=3))\n'
        'from mmtnt.models import Trans2SegHead\n'
        'assert type(head) is Trans2SegHead and MODELS.get("Trans2SegHead") is Trans2SegHead\n'
        'assert isinstance(head, BaseDecodeHead)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_deferred_class_that_cannot_import_says_what_it_needs():
    from mmengine.registry import Registry

    from mmtnt.registry import register_deferred
    registry = Registry('deferred test')
    register_deferred(registry, 'Missing', 'mmtnt.no_such_module', 'MMSegmentation')
    with pytest.raises(ImportError, match='Missing needs MMSegmentation.*compiled ops'):
        registry.build(dict(type='Missing'))
