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
