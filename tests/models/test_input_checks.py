"""Both backbones share one input check: each wrong input or argument gets a clear ValueError /
TypeError at construction or call, or a correct result."""
import pytest
import torch

from mmtnt import PyramidTNT, TNTBackbone

from helpers import TINY_ARCH

PTNT_TINY = dict(depths=[1, 1, 1, 1], outer_dims=[16, 32, 64, 64], inner_dims=[2, 4, 8, 8],
                 outer_heads=[1, 2, 4, 4], inner_heads=[1, 1, 2, 2])
BACKBONES = {
    'TNTBackbone': lambda **kw: TNTBackbone(arch=TINY_ARCH, **kw),
    'PyramidTNT': lambda **kw: PyramidTNT(arch=PTNT_TINY, pretrain_img_size=64, **kw),
}


@pytest.fixture(params=sorted(BACKBONES))
def build(request):
    return BACKBONES[request.param]


def test_uint8_images_are_refused_with_advice(build):
    with pytest.raises(TypeError, match='normalise raw images first'):
        build().eval()(torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8))


@pytest.mark.parametrize('dtype', [torch.float64, torch.float16])
def test_other_float_precisions_give_the_weights_result(build, dtype):
    model = build().eval()
    x = torch.randn(1, 3, 64, 48).to(dtype)
    with torch.no_grad():
        expected = model(x.float())  # the same values, in the weights' precision
        got = model(x)
    for a, b in zip(got, expected):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b)


def test_empty_batch_is_refused(build):
    with pytest.raises(ValueError, match='empty batch'):
        build()(torch.zeros(0, 3, 64, 64))


@pytest.mark.parametrize('x, match', [(torch.zeros(3, 64, 64), '4-D'),
                                      (torch.zeros(1, 4, 64, 64), 'in_channels=3'),
                                      ([1, 2, 3], 'torch.Tensor')])
def test_wrong_shapes_and_types(build, x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()(x)


def test_no_outputs_requested_is_refused(build):
    with pytest.raises(ValueError, match='both empty'):
        build(out_indices=())


@pytest.mark.parametrize('rate', [1.5, 1.0, -0.1, 'x'])
def test_drop_path_rate_outside_0_1(build, rate):
    with pytest.raises(ValueError, match=r'drop_path_rate must be a number in \[0, 1\)'):
        build(drop_path_rate=rate)


def test_norm_that_is_not_a_token_norm(build):
    with pytest.raises(ValueError, match='cannot normalise'):
        build(norm_cfg=dict(type='BN'))


def test_global_attn_indices_without_windows():
    with pytest.raises(ValueError, match='set window_size > 0'):
        TNTBackbone(arch=TINY_ARCH, global_attn_indices=(0, ))
    TNTBackbone(arch=TINY_ARCH, window_size=4, global_attn_indices=(0, ))  # fine with windows
