import copy
import math

import pytest
import torch

from mmtnt import TNTBackbone

from helpers import TINY_ARCH, randomize_


def _expected_grid(h, w):
    return math.ceil(h / 16), math.ceil(w / 16)


# 528x560: a grid (33x35) past the 32x32 position grid of 512x512, at a third of the cost of
# COCO's 800x1344
@pytest.mark.parametrize('size', [(224, 224), (234, 345), (512, 512), (528, 560), (16, 16)])
def test_output_shapes_tnt_s(size):
    model = TNTBackbone(arch='s', out_indices=(3, 11), pixel_out_indices=(11, )).eval()
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        outs = model(x)
    h, w = _expected_grid(*size)
    assert [tuple(o.shape) for o in outs] == [(1, 384, h, w), (1, 384, h, w), (1, 24, 4 * h, 4 * w)]
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('size', [(17, 33), (1, 1), (100, 31)])
def test_odd_sizes_are_padded(size):
    model = TNTBackbone(arch=TINY_ARCH, out_indices=(0, 2)).eval()
    outs = model(torch.randn(2, 3, *size))
    h, w = _expected_grid(*size)
    assert [tuple(o.shape) for o in outs] == [(2, 48, h, w)] * 2


def test_arch_b_dims():
    model = TNTBackbone(arch='b', out_indices=-1, pixel_out_indices=-1).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 48))
    assert [tuple(o.shape) for o in outs] == [(1, 640, 4, 3), (1, 40, 16, 12)]


def test_padding_matches_explicit_pad():
    """An odd-sized input gives the same features as the same image zero-padded by hand."""
    model = randomize_(TNTBackbone(arch=TINY_ARCH)).eval()
    x = torch.randn(1, 3, 40, 50)
    padded = torch.nn.functional.pad(x, (0, 14, 0, 8))
    torch.testing.assert_close(model(x)[0], model(padded)[0])


def test_position_grid_resampled_not_sliced():
    """At another grid the patch position encoding is resampled from the stored 14x14 grid."""
    model = TNTBackbone(arch=TINY_ARCH, drop_rate=0.).eval()
    x = torch.randn(1, 3, 224, 224)
    base = model(x)[0]
    with torch.no_grad():
        model.patch_pos[:, 1:] += 1.0  # a constant shift survives bicubic resampling unchanged
    assert not torch.allclose(model(x)[0], base)
    big = torch.randn(1, 3, 320, 160)
    out = model(big)[0]
    with torch.no_grad():
        model.patch_pos[:, 1:] -= 1.0
    assert not torch.allclose(model(big)[0], out)


def test_final_norm_only_on_last_block():
    model = randomize_(TNTBackbone(arch=TINY_ARCH, out_indices=(1, 2), final_norm=True)).eval()
    plain = copy.deepcopy(model)
    plain.norm = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    normed, raw = model(x), plain(x)
    torch.testing.assert_close(normed[0], raw[0])
    last = raw[1].permute(0, 2, 3, 1)
    torch.testing.assert_close(normed[1], model.norm(last).permute(0, 3, 1, 2))


def test_fused_equals_manual_attention():
    model = randomize_(TNTBackbone(arch='s', out_indices=(5, 11), pixel_out_indices=(11, ))).eval()
    manual = copy.deepcopy(model)
    for m in manual.modules():
        if hasattr(m, 'fused_attn'):
            m.fused_attn = False
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        for a, b in zip(model(x), manual(x)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('kernel', [True, False])
def test_auto_attention_trains_like_either_kernel(kernel):
    """fused_attn='auto' (the default) mixes the two kernels in training: same outputs and
    gradients as SDPA everywhere and as the manual path everywhere."""
    model = randomize_(TNTBackbone(arch=TINY_ARCH, out_indices=(1, 2), pixel_out_indices=2))
    fixed = copy.deepcopy(model)
    for m in fixed.modules():
        if hasattr(m, 'fused_attn'):
            m.fused_attn = kernel
    x = torch.randn(2, 3, 40, 56)
    outs, grads = _loss_and_grads(model, x)
    fixed_outs, fixed_grads = _loss_and_grads(fixed, x)
    for a, b in zip(outs, fixed_outs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert grads.keys() == fixed_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], fixed_grads[name], atol=1e-5, rtol=1e-4)


def test_auto_attention_kernel_choice(monkeypatch):
    """'auto' on a CPU: float32 trains the inner (16-word) attention with the manual kernel and
    keeps SDPA for the outer attention and for inference; bfloat16 runs attention over up to
    1025 keys (TNT-S's inner, outer at 512 and windowed attention) manually, in inference too;
    float16 (no fast CPU matmul for a manual kernel) runs SDPA everywhere."""
    import mmtnt.layers.attention as attention
    calls = []
    real_sdpa = attention.F.scaled_dot_product_attention

    def sdpa(q, *args, **kwargs):
        calls.append(q.shape[-2])
        return real_sdpa(q, *args, **kwargs)

    monkeypatch.setattr(attention.F, 'scaled_dot_product_attention', sdpa)
    model = TNTBackbone(arch=TINY_ARCH, out_indices=(2, ))
    x = torch.randn(1, 3, 96, 96)  # 36 patches + the class token: 37 outer tokens, 16 words
    model(x)[0].sum().backward()
    assert calls == [37] * 3  # the outer attention of each block only
    for dtype, sdpa_calls in [(None, [16] * 3 + [37] * 3), (torch.bfloat16, []),
                              (torch.float16, [16] * 3 + [37] * 3)]:
        calls.clear()
        with torch.no_grad(), torch.autocast('cpu', dtype=dtype or torch.bfloat16,
                                             enabled=dtype is not None):
            model(x)
        assert sorted(calls) == sdpa_calls, dtype
    q = torch.zeros(1, 1, 1, 8, dtype=torch.bfloat16)
    for keys, fused in [(1025, False), (1026, True)]:  # 512x512: 1024 patches + class token
        k = torch.zeros(1, 1, keys, 8, dtype=torch.bfloat16)
        assert attention.use_fused_kernel('auto', q, k) is fused


def _loss_and_grads(model, x):
    model.zero_grad()
    outs = model(x)
    loss = sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs)
    loss.backward()
    return [o.detach() for o in outs], {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }


def test_with_cp_same_outputs_and_grads():
    model = randomize_(TNTBackbone(arch=TINY_ARCH, out_indices=(1, 2), pixel_out_indices=2))
    cp = copy.deepcopy(model)
    cp.with_cp = True
    model.train(), cp.train()
    x = torch.randn(2, 3, 48, 80)
    outs, grads = _loss_and_grads(model, x)
    outs_cp, grads_cp = _loss_and_grads(cp, x)
    for a, b in zip(outs, outs_cp):
        torch.testing.assert_close(a, b)
    assert grads.keys() == grads_cp.keys()
    for k in grads:
        torch.testing.assert_close(grads[k], grads_cp[k], msg=k)


def test_with_cp_actually_checkpoints(monkeypatch):
    import mmtnt.models.backbones.common as common  # the backbones' base runs the blocks
    calls = []
    real = common.checkpoint
    monkeypatch.setattr(common, 'checkpoint', lambda *a, **k: calls.append(1) or real(*a, **k))
    model = TNTBackbone(arch=TINY_ARCH, with_cp=True).train()
    model(torch.randn(1, 3, 32, 32))[0].sum().backward()
    assert len(calls) == TINY_ARCH['num_layers']
    calls.clear()
    model.eval()(torch.randn(1, 3, 32, 32))
    assert not calls  # no checkpointing outside training


@pytest.mark.parametrize('with_se', [False, True])
def test_every_parameter_gets_a_gradient(with_se):
    model = TNTBackbone(arch=TINY_ARCH, with_se=with_se, drop_path_rate=0.1).train()
    _, grads = _loss_and_grads(model, torch.randn(2, 3, 40, 40))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(grads)
    assert all(g.abs().sum() > 0 for g in grads.values())


def test_frozen_stages():
    model = TNTBackbone(arch=TINY_ARCH, frozen_stages=2)
    model.train()
    assert not model.pixel_embed.training and not model.blocks[1].training
    assert model.blocks[2].training
    _, grads = _loss_and_grads(model, torch.randn(1, 3, 32, 32))
    frozen = {'cls_token', 'patch_pos', 'pixel_pos'}
    assert frozen.isdisjoint(grads)
    for name in grads:
        assert not name.startswith(('pixel_embed', 'stem_proj', 'blocks.0.', 'blocks.1.')), name
    assert any(n.startswith('blocks.2.') for n in grads)


def test_frozen_all_freezes_final_norm():
    model = TNTBackbone(arch=TINY_ARCH, frozen_stages=TINY_ARCH['num_layers']).train()
    assert not any(p.requires_grad for p in model.parameters())


def test_drop_path_changes_training_outputs_only():
    model = TNTBackbone(arch=TINY_ARCH, drop_path_rate=0.5)
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])


def test_legacy_variant_builds_and_runs():
    model = TNTBackbone(arch=TINY_ARCH, legacy=True).eval()
    assert model.blocks[0].word_to_patch.norm1.normalized_shape == (TINY_ARCH['inner_dims'], )
    assert model.blocks[0].word_to_patch.fc.bias is not None
    assert model(torch.randn(1, 3, 50, 50))[0].shape == (1, 48, 4, 4)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(arch='xl'), ValueError, 'Unknown TNT arch'),
    (dict(arch=dict(embed_dims=8)), ValueError, 'custom TNT arch'),
    (dict(arch=3), TypeError, 'arch must be'),
    (dict(out_indices=12), ValueError, 'out_indices'),
    (dict(out_indices=(0, -13)), ValueError, 'out_indices'),
    (dict(out_indices='last'), TypeError, 'out_indices'),
    (dict(pixel_out_indices=(20, )), ValueError, 'pixel_out_indices'),
    (dict(frozen_stages=13), ValueError, 'frozen_stages'),
    (dict(frozen_stages=-2), ValueError, 'frozen_stages'),
    (dict(fused_attn='flash'), ValueError, 'fused_attn'),
])
def test_bad_config_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        TNTBackbone(**kwargs)


@pytest.mark.parametrize('x, error, match', [
    (torch.randn(3, 32, 32), ValueError, '4-D'),
    (torch.randn(1, 1, 3, 32, 32), ValueError, '4-D'),
    (torch.randn(1, 4, 32, 32), ValueError, 'in_channels=3'),
    (torch.randn(1, 3, 0, 32), ValueError, 'empty'),
    ([[1.0]], TypeError, 'torch.Tensor'),
])
def test_bad_input_errors(x, error, match):
    model = TNTBackbone(arch=TINY_ARCH)
    with pytest.raises(error, match=match):
        model(x)


def test_negative_out_indices():
    model = TNTBackbone(arch=TINY_ARCH, out_indices=(-1, 0))
    assert model.out_indices == [0, 2]
