"""Every published TNT layout loads through init_cfg and reproduces its peer's features.

Nothing can be downloaded here, so each layout's weights are produced by the peer implementation
itself: timm's ``state_dict()`` (current and legacy), the official layout derived from timm's by
the documented key map, and mmpretrain's ``TNT`` wrapped like an mmpretrain classifier checkpoint.
"""
import pytest
import timm
import torch
from conftest import randomize_

from mmtnt import TNTBackbone
from mmtnt.ckpt_convert import convert_tnt_checkpoint

TOL = dict(atol=1e-4, rtol=1e-4)

# timm -> official names (the inverse of timm's checkpoint_filter_fn)
_TIMM_TO_OFFICIAL = (('patch_pos', 'outer_pos'), ('pixel_pos', 'inner_pos'),
                     ('pixel_embed.', 'patch_embed.'), ('norm1_proj', 'proj_norm1'),
                     ('norm2_proj', 'proj_norm2'), ('norm_in.', 'inner_norm1.'),
                     ('attn_in.', 'inner_attn.'), ('norm_mlp_in.', 'inner_norm2.'),
                     ('mlp_in.', 'inner_mlp.'), ('norm_out.', 'outer_norm1.'),
                     ('attn_out.', 'outer_attn.'), ('norm_mlp.', 'outer_norm2.'),
                     ('.mlp.', '.outer_mlp.'))


def timm_to_official(sd):
    out = {}
    for k, v in sd.items():
        for old, new in _TIMM_TO_OFFICIAL:
            k = k.replace(old, new)
        if k == 'inner_pos':  # (1, C, 4, 4) -> (1, 16, C)
            v = v.flatten(2).transpose(1, 2)
        out[k] = v
    out['outer_tokens'] = torch.zeros(1, 196, sd['patch_pos'].shape[-1])
    return out


def _timm_ref(name):
    torch.manual_seed(3)
    return randomize_(timm.create_model(name, pretrained=False)).eval()


def _timm_features(ref, x):
    with torch.no_grad():
        inter = ref.forward_intermediates(x, indices=[5, 11], norm=False, intermediates_only=True)
        final = ref.forward_features(x)[:, 1:]
    return inter, final


def _mmpretrain_features(ref, x):
    """Patch tokens of blocks 5 and 11 (no norm) and after the final norm, from forward hooks."""
    got = {}  # clone: mmpretrain's next layer updates this layer's output in place
    hooks = [ref.layers[i].register_forward_hook(
        lambda m, a, out, i=i: got.__setitem__(i, out[1][:, 1:].clone())) for i in (5, 11)]
    hooks.append(ref.norm.register_forward_hook(lambda m, a, out: got.__setitem__('n', out[:, 1:])))
    with torch.no_grad():
        ref(x)
    for h in hooks:
        h.remove()
    side = int(got[5].shape[1]**0.5)
    maps = [got[i].reshape(x.shape[0], side, side, -1).permute(0, 3, 1, 2) for i in (5, 11)]
    return maps, got['n']


def _mmpretrain_ref():
    from mmpretrain.models.backbones import TNT
    torch.manual_seed(4)
    ref = TNT(arch='s')
    ref.init_weights()
    randomize_(ref)
    ref.eval()  # mmpretrain's BaseBackbone.train() returns None: no chaining
    return ref


def _layouts():
    """(name, checkpoint object, legacy, features fn)"""
    timm_s = _timm_ref('tnt_s_patch16_224')
    legacy = _timm_ref('tnt_s_legacy_patch16_224')
    mmpre = _mmpretrain_ref()
    mmpre_ckpt = dict(state_dict={
        **{f'backbone.{k}': v for k, v in mmpre.state_dict().items()},
        'head.fc.weight': torch.zeros(1000, 384), 'head.fc.bias': torch.zeros(1000)},
        meta=dict(epoch=300))
    return [
        ('timm', timm_s.state_dict(), False, lambda x: _timm_features(timm_s, x)),
        ('timm_legacy', legacy.state_dict(), True, lambda x: _timm_features(legacy, x)),
        ('official', dict(state_dict_ema=None, model=timm_to_official(timm_s.state_dict())), False,
         lambda x: _timm_features(timm_s, x)),
        ('mmpretrain', mmpre_ckpt, True, lambda x: _mmpretrain_features(mmpre, x)),
    ]


LAYOUTS = {name: rest for name, *rest in _layouts()}


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_layout_reproduces_peer_features(layout, tmp_path):
    ckpt, legacy, features = LAYOUTS[layout]
    path = tmp_path / f'{layout}.pth'
    torch.save(ckpt, path)
    result = convert_tnt_checkpoint(torch.load(path))
    assert result.layout == layout and result.unmapped == []
    assert set(result.state_dict) == set(TNTBackbone(arch='s', legacy=legacy).state_dict())

    init_cfg = dict(type='Pretrained', checkpoint=str(path))
    blocks = TNTBackbone(arch='s', legacy=legacy, out_indices=(5, 11), final_norm=False,
                         init_cfg=init_cfg)
    normed = TNTBackbone(arch='s', legacy=legacy, init_cfg=init_cfg)
    blocks.init_weights(), normed.init_weights()
    x = torch.randn(2, 3, 224, 224)
    expected_maps, expected_final = features(x)
    with torch.no_grad():
        for a, b in zip(blocks.eval()(x), expected_maps):
            torch.testing.assert_close(a, b, **TOL)
        final = normed.eval()(x)[0].flatten(2).transpose(1, 2)
    torch.testing.assert_close(final, expected_final, **TOL)

    # the same checkpoint at another size: the position grid is resampled
    with torch.no_grad():
        out = normed(torch.randn(1, 3, 512, 512))[0]
    assert out.shape == (1, 384, 32, 32) and torch.isfinite(out).all()


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
    from pathlib import Path
    return subprocess.run([sys.executable, 'tools/convert_weights.py', *map(str, args)],
                          cwd=Path(__file__).parents[1], capture_output=True, text=True)


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


def test_convert_tool_refuses_unsafe_pickles_unless_trusted(tmp_path):
    import argparse
    src = tmp_path / 'with_args.pth'
    torch.save(dict(model=LAYOUTS['official'][0]['model'], args=argparse.Namespace(lr=1)), src)
    proc = _convert_tool(src, tmp_path / 'out.pth')
    assert proc.returncode != 0 and '--trust-checkpoint' in proc.stderr
    proc = _convert_tool(src, tmp_path / 'out.pth', '--trust-checkpoint')
    assert proc.returncode == 0, proc.stderr
