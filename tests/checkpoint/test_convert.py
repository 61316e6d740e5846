"""Every published TNT layout loads through init_cfg and reproduces its peer's features.

The checkpoints are made by the peer implementations themselves (``helpers/peer_checkpoints.py``).
"""
import pytest
import torch

from mmtnt import TNTBackbone
from mmtnt.checkpoint.convert import convert_tnt_checkpoint

from helpers import ROOT
from helpers.peer_checkpoints import LAYOUTS, assert_loads_like_peer


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_layout_reproduces_peer_features(layout, tmp_path):
    ckpt, legacy, _ = LAYOUTS[layout]
    path = tmp_path / f'{layout}.pth'
    torch.save(ckpt, path)
    result = convert_tnt_checkpoint(torch.load(path))
    assert result.layout == layout and result.unmapped == []
    assert set(result.state_dict) == set(TNTBackbone(arch='s', legacy=legacy).state_dict())

    assert_loads_like_peer(str(path), layout, also_at=512)


def test_classifier_head_and_prefix_reported_as_dropped():
    ckpt, _, _ = LAYOUTS['mmpretrain']
    result = convert_tnt_checkpoint(ckpt)
    assert result.dropped == ['head.fc.bias', 'head.fc.weight']
    official = convert_tnt_checkpoint(LAYOUTS['official'][0])
    assert 'outer_tokens' in official.dropped and 'head.weight' in official.dropped


def test_detector_checkpoint_with_module_prefix(tmp_path):
    """A detector checkpoint saved from DDP: module. and backbone. prefixes, neck keys dropped."""
    src = TNTBackbone(arch='s')
    sd = {f'module.backbone.{k}': v for k, v in src.state_dict().items()}
    sd['module.neck.lateral.weight'] = torch.zeros(1)
    path = tmp_path / 'det.pth'
    torch.save(dict(state_dict=sd), path)
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)
    assert convert_tnt_checkpoint(dict(state_dict=sd)).dropped == ['neck.lateral.weight']


def test_patch_pos_of_another_grid_is_resampled(tmp_path):
    ckpt = dict(LAYOUTS['timm'][0])
    pos = ckpt['patch_pos']
    grid = pos[:, 1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=(24, 24), mode='bicubic')
    ckpt['patch_pos'] = torch.cat([pos[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)
    path = tmp_path / 'tnt_384.pth'
    torch.save(ckpt, path)
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert model.patch_pos.shape == (1, 197, 384)
    torch.testing.assert_close(model.patch_pos[:, :1], pos[:, :1])


def test_corrupt_file_error_names_the_file(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'not a checkpoint at all')
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match='broken.pth'):
        model.init_weights()


def test_unrelated_checkpoint_error_names_the_file(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save(dict(state_dict={'conv1.weight': torch.zeros(64, 3, 7, 7),
                                'layer1.0.bn1.weight': torch.zeros(64)}), path)
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r'resnet\.pth.*Not a TNT checkpoint'):
        model.init_weights()


def test_wrong_variant_and_wrong_size_errors(tmp_path):
    legacy_path = tmp_path / 'legacy.pth'
    torch.save(LAYOUTS['timm_legacy'][0], legacy_path)
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=str(legacy_path)))
    with pytest.raises(ValueError, match='legacy=True'):
        model.init_weights()
    b_model = TNTBackbone(arch='b', init_cfg=dict(type='Pretrained',
                                                  checkpoint=str(tmp_path / 'legacy.pth')),
                          legacy=True)
    with pytest.raises(ValueError, match='does not fit'):
        b_model.init_weights()


def _convert_tool(*args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, 'tools/convert_weights.py', *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True)


def test_convert_tool_writes_mmtnt_layout(tmp_path):
    src, dst = tmp_path / 'official.pth', tmp_path / 'mmtnt.pth'
    ckpt = LAYOUTS['official'][0]
    torch.save(ckpt, src)
    proc = _convert_tool(src, dst)
    assert proc.returncode == 0, proc.stderr
    assert 'official layout' in proc.stdout + proc.stderr
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['source_layout'] == 'official'
    assert convert_tnt_checkpoint(converted).layout == 'mmtnt'
    direct = convert_tnt_checkpoint(ckpt).state_dict
    assert converted['state_dict'].keys() == direct.keys()
    for k in direct:
        torch.testing.assert_close(converted['state_dict'][k], direct[k])


@pytest.mark.slow
def test_convert_tool_refuses_unsafe_pickles_unless_trusted(tmp_path):
    """Training args (argparse.Namespace) are plain metadata and load safely; an object outside
    the allow-list needs --trust-checkpoint."""
    import argparse
    import fractions
    model = LAYOUTS['official'][0]['model']
    src = tmp_path / 'with_args.pth'
    torch.save(dict(model=model, args=argparse.Namespace(lr=1e-3, model='tnt_s')), src)
    proc = _convert_tool(src, tmp_path / 'out.pth')
    assert proc.returncode == 0, proc.stderr
    src = tmp_path / 'with_object.pth'
    torch.save(dict(model=model, metric=fractions.Fraction(815, 10)), src)
    proc = _convert_tool(src, tmp_path / 'out.pth')
    assert proc.returncode != 0 and '--trust-checkpoint' in proc.stderr
    assert 'with_object.pth' in proc.stderr
    proc = _convert_tool(src, tmp_path / 'out.pth', '--trust-checkpoint')
    assert proc.returncode == 0, proc.stderr
    assert set(torch.load(tmp_path / 'out.pth', weights_only=True)) == {'state_dict', 'meta'}
