"""PyramidTNT: parity with the official code (golden fixture), any input size, the position
tables' resampling, gradients, checkpointing, freezing, registration."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope, init_default_scope

from mmtnt import PyramidTNT
from mmtnt.checkpoint.convert import convert_pyramid_tnt_checkpoint
from mmtnt.layers import resample_grid, resample_rel_pos

from helpers import DATA, TINY_PTNT, randomize_

GOLDEN = torch.load(DATA / 'pyramid_tnt_golden.pth', weights_only=True)
TOL = dict(atol=1e-4, rtol=1e-4)


def _golden_model(tmp_path, **kwargs):
    path = tmp_path / 'ptnt_official.pth.tar'
    torch.save(GOLDEN['checkpoint'], path)
    model = PyramidTNT(arch=GOLDEN['config'], pretrain_img_size=GOLDEN['img_size'],
                       init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kwargs)
    model.init_weights()
    return model.eval()


def test_official_outputs_reproduced(tmp_path):
    """Same weights, official training-script checkpoint -> the official stage outputs."""
    expected = GOLDEN['outputs']
    x = GOLDEN['input']
    with torch.no_grad():
        stages = _golden_model(tmp_path, final_norm=False)(x)
        final = _golden_model(tmp_path, out_indices=3)(x)[0]
    for i, out in enumerate(stages):
        torch.testing.assert_close(out, expected[f'stage{i}'], **TOL)
    torch.testing.assert_close(final, expected['final'], **TOL)


@pytest.mark.parametrize('arch', ['ti', 's', 'm', 'b'])
def test_param_counts_equal_official(arch):
    model = PyramidTNT(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == \
        GOLDEN['official_backbone_params'][arch]


def test_official_layout_converted_and_logged():
    result = convert_pyramid_tnt_checkpoint(GOLDEN['checkpoint'])
    assert result.layout == 'official' and result.unmapped == []
    assert result.dropped == ['head.bias', 'head.weight']
    model = PyramidTNT(arch=GOLDEN['config'], pretrain_img_size=128)
    assert set(result.state_dict) == set(model.state_dict())
    again = convert_pyramid_tnt_checkpoint(dict(state_dict=result.state_dict))
    assert again.layout == 'mmtnt'


@pytest.mark.parametrize('hw', [(128, 128), (97, 301), (136, 200), (8, 8), (1, 1), (800, 1333)])
def test_any_input_size(hw):
    model = PyramidTNT(arch=TINY_PTNT, pretrain_img_size=128, word_out_indices=(0, 1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    h, w = -(-hw[0] // 8), -(-hw[1] // 8)
    for i, c in enumerate(TINY_PTNT['outer_dims']):
        assert outs[i].shape == (1, c, h, w)
        assert torch.isfinite(outs[i]).all()
        if i == 0:
            assert outs[4].shape == (1, 2, 4 * h, 4 * w)
        if i == 1:
            assert outs[5].shape == (1, 4, 4 * h, 4 * w)
        h, w = -(-h // 2), -(-w // 2)


def test_padding_keeps_content_at_multiples_of_8(tmp_path):
    """An input of 121x128 is zero-padded to 128x128: the same as padding it by hand."""
    model = _golden_model(tmp_path)
    x = GOLDEN['input'][:1, :, :121]
    padded = torch.nn.functional.pad(x, (0, 0, 0, 7))
    with torch.no_grad():
        for a, b in zip(model(x), model(padded)):
            torch.testing.assert_close(a, b)


def test_rel_pos_resampling_keeps_query_and_key_axes():
    """A bias that varies with the query position only stays so, resampled like a 2-D map;
    likewise for the key position."""
    q_map = torch.randn(2, 1, 4, 6)  # (heads, 1, qh, qw)
    bias = q_map.flatten(2).permute(1, 0, 2).reshape(1, 2, 24, 1).expand(1, 2, 24, 9)
    out = resample_rel_pos(bias, (8, 12), (5, 5), (4, 6), (3, 3))
    assert out.shape == (1, 2, 96, 25)
    expected = resample_grid(q_map, (8, 12)).reshape(1, 2, 96, 1)
    torch.testing.assert_close(out, expected.expand_as(out), **TOL)
    k_map = torch.randn(2, 1, 3, 3)
    bias = k_map.reshape(1, 2, 1, 9).expand(1, 2, 24, 9)
    out = resample_rel_pos(bias, (8, 12), (5, 5), (4, 6), (3, 3))
    expected = resample_grid(k_map, (5, 5)).reshape(1, 2, 1, 25)
    torch.testing.assert_close(out, expected.expand_as(out), **TOL)
    assert resample_rel_pos(bias, (4, 6), (3, 3), (4, 6), (3, 3)) is bias


def test_checkpoint_of_another_size_is_resampled_on_load(tmp_path):
    """The 128x128 fixture loaded into a model pretrained at 192: both position tables are
    resampled by the same function the forward pass uses."""
    path = tmp_path / 'ptnt.pth'
    torch.save(GOLDEN['checkpoint'], path)
    at_128 = _golden_model(tmp_path)
    at_192 = PyramidTNT(arch=GOLDEN['config'], pretrain_img_size=192,
                        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    at_192.init_weights()
    assert at_192.stages[0].relative_pos.shape == (1, 1, 24 * 24, 6 * 6)
    torch.testing.assert_close(at_192.stages[0].relative_pos,
                               at_128.stages[0].bias_for((24, 24)))
    assert at_192.outer_pos.shape == (1, 24 * 24, 16)


def test_fused_equals_manual_attention():
    torch.manual_seed(0)
    fused = randomize_(PyramidTNT(arch=TINY_PTNT, pretrain_img_size=128)).eval()
    manual = copy.deepcopy(fused)
    for m in manual.modules():
        if hasattr(m, 'fused_attn'):
            m.fused_attn = False
    x = torch.randn(2, 3, 100, 140)
    with torch.no_grad():
        for a, b in zip(fused(x), manual(x)):
            torch.testing.assert_close(a, b, **TOL)


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    plain = PyramidTNT(arch=TINY_PTNT, pretrain_img_size=128, drop_path_rate=0.)
    cp = copy.deepcopy(plain)
    cp.with_cp = True
    x = torch.randn(2, 3, 96, 64)
    grads = []
    for model in (plain, cp):
        model.train()
        sum(o.pow(2).mean() for o in model(x)).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], **TOL)


def test_every_parameter_gets_a_gradient():
    model = PyramidTNT(arch=TINY_PTNT, pretrain_img_size=128, word_out_indices=(0, 1, 2, 3)).train()
    outs = model(torch.randn(2, 3, 72, 104))
    sum(o.mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_only_requested_stages_run():
    model = PyramidTNT(arch=TINY_PTNT, pretrain_img_size=128, out_indices=(1, )).train()
    model(torch.randn(1, 3, 64, 64))[0].mean().backward()
    assert model.stages[1].relative_pos.grad is not None
    assert all(p.grad is None for p in model.stages[2].parameters())


@pytest.mark.parametrize('frozen', [0, 2, 4])
def test_frozen_stages(frozen):
    model = PyramidTNT(arch=TINY_PTNT, pretrain_img_size=128, frozen_stages=frozen).train()
    assert not model.stem.training and not model.outer_pos.requires_grad
    for i, stage in enumerate(model.stages):
        assert all(p.requires_grad != (i < frozen) for p in stage.parameters())
        assert stage.training != (i < frozen)
    assert all(p.requires_grad != (frozen == 4) for p in model.norm.parameters())


def test_builds_in_mmdet_and_mmseg_scopes():
    for scope in ('mmdet', 'mmseg'):
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        with DefaultScope.overwrite_default_scope(scope):
            init_default_scope(scope)
            model = registry.build(dict(type='PyramidTNT', arch='ti'))
        assert type(model).__name__ == 'PyramidTNT'


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="Unknown PyramidTNT arch 'xl'"):
        PyramidTNT(arch='xl')
    with pytest.raises(ValueError, match='four entries'):
        PyramidTNT(arch=dict(TINY_PTNT, depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='out of range for 4 stages'):
        PyramidTNT(arch=TINY_PTNT, out_indices=(4, ))
