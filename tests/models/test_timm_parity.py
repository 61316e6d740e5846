"""mmtnt reproduces timm's TNT (timm >= 1.0.16 follows the official architecture) with its weights."""
import pytest
import timm
import torch

from mmtnt import TNTBackbone

from helpers import randomize_

TOL = dict(atol=1e-4, rtol=1e-4)


@pytest.fixture(scope='module')
def timm_tnt_s(tmp_path_factory):
    torch.manual_seed(1)
    ref = randomize_(timm.create_model('tnt_s_patch16_224', pretrained=False)).eval()
    path = tmp_path_factory.mktemp('ckpt') / 'tnt_s_timm.pth'
    torch.save(ref.state_dict(), path)
    return ref, str(path)


def _load(path, **kwargs):
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=path), **kwargs)
    model.init_weights()
    return model.eval()


def test_intermediates_match_timm(timm_tnt_s):
    ref, path = timm_tnt_s
    model = _load(path, out_indices=(3, 7, 11), final_norm=False)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = ref.forward_intermediates(x, indices=[3, 7, 11], norm=False,
                                             intermediates_only=True)
        outs = model(x)
    assert len(outs) == 3
    for a, b in zip(outs, expected):
        torch.testing.assert_close(a, b, **TOL)


def test_final_norm_matches_timm_forward_features(timm_tnt_s):
    ref, path = timm_tnt_s
    model = _load(path, final_norm=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = ref.forward_features(x)[:, 1:]
        out = model(x)[0]
    torch.testing.assert_close(out.flatten(2).transpose(1, 2), expected, **TOL)


def test_timm_keys_map_completely(timm_tnt_s):
    from mmtnt.checkpoint.convert import convert_tnt_checkpoint
    _, path = timm_tnt_s
    result = convert_tnt_checkpoint(torch.load(path))
    assert result.layout == 'timm' and not result.unmapped
    assert result.dropped == ['head.bias', 'head.weight']
    assert set(result.state_dict) == set(TNTBackbone(arch='s').state_dict())


def test_missing_and_unexpected_keys_are_logged(timm_tnt_s, tmp_path):
    from mmengine.logging import MMLogger
    _, path = timm_tnt_s
    sd = torch.load(path)
    del sd['blocks.3.mlp.fc1.weight']
    sd['blocks.3.extra.weight'] = torch.zeros(1)
    partial = tmp_path / 'partial.pth'
    torch.save(sd, partial)
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=str(partial)))
    before = model.blocks[3].outer.mlp.fc1.weight.detach().clone()
    # the newest MMLogger instance is the 'current' one that print_log writes to
    MMLogger.get_instance('mmtnt_missing_keys', log_file=str(tmp_path / 'log.txt'))
    model.init_weights()
    text = (tmp_path / 'log.txt').read_text()
    assert 'missing keys' in text and 'blocks.3.outer.mlp.fc1.weight' in text
    assert 'unmapped keys' in text and 'blocks.3.extra.weight' in text
    torch.testing.assert_close(model.blocks[3].outer.mlp.fc1.weight, before)


@pytest.mark.parametrize('size', [(512, 512), (234, 345)])
def test_timm_weights_run_at_other_sizes(timm_tnt_s, size):
    _, path = timm_tnt_s
    model = _load(path)
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))[0]
    assert out.shape == (1, 384, -(-size[0] // 16), -(-size[1] // 16))
    assert torch.isfinite(out).all()
