import pytest
import torch

from mmtnt import TNTBackbone, TNTFeaturePyramid

from helpers import TINY_ARCH


@pytest.mark.parametrize('scales', [(4, 2, 1, 0.5), (2, 1, 0.5), (1, 0.5, 0.25)])
@pytest.mark.parametrize('pixel', [False, True])
def test_strides_and_channels(scales, pixel):
    c, inner = TINY_ARCH['embed_dims'], TINY_ARCH['inner_dims']
    backbone = TNTBackbone(arch=TINY_ARCH, pixel_out_indices=(2, ) if pixel else ())
    neck = TNTFeaturePyramid(in_channels=c, scales=scales, pixel_channels=inner if pixel else None)
    x = torch.randn(2, 3, 128, 192)
    outs = neck(backbone(x))
    assert neck.strides == tuple(int(16 / s) for s in scales)
    assert neck.out_channels == [c] * len(scales)
    for out, stride in zip(outs, neck.strides):
        assert out.shape == (2, c, 128 // stride, 192 // stride)


def test_pixel_tokens_reach_the_finest_level_only():
    backbone = TNTBackbone(arch=TINY_ARCH, pixel_out_indices=(2, )).eval()
    neck = TNTFeaturePyramid(in_channels=48, scales=(4, 2, 1), pixel_channels=8).eval()
    patch, pixel = backbone(torch.randn(1, 3, 64, 64))
    base = neck((patch, pixel))
    changed = neck((patch, pixel + 1.0))
    assert not torch.allclose(base[0], changed[0])
    torch.testing.assert_close(base[1], changed[1])
    torch.testing.assert_close(base[2], changed[2])


def test_one_map_per_level():
    neck = TNTFeaturePyramid(in_channels=8, scales=(2, 1))
    a, b = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    outs = neck((a, b))
    torch.testing.assert_close(outs[1], b)
    assert outs[0].shape == (1, 8, 8, 8)


@pytest.mark.parametrize('kwargs, match', [
    (dict(scales=(3, 1)), 'scales'),
    (dict(scales=()), 'scales'),
    (dict(scales=(1, 2)), 'finest to coarsest'),
])
def test_bad_scales(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TNTFeaturePyramid(in_channels=8, **kwargs)


def test_bad_inputs():
    neck = TNTFeaturePyramid(in_channels=8, scales=(2, 1, 0.5))
    with pytest.raises(ValueError, match='in_channels=8'):
        neck((torch.randn(1, 16, 4, 4), ))
    with pytest.raises(ValueError, match='needs 1 or 3'):
        neck((torch.randn(1, 8, 4, 4), ) * 2)
    pixel_neck = TNTFeaturePyramid(in_channels=8, scales=(4, 2), pixel_channels=4)
    with pytest.raises(ValueError, match='pixel_out_indices'):
        pixel_neck((torch.randn(1, 8, 4, 4), torch.randn(1, 8, 16, 16)))


@pytest.mark.parametrize('mode', ['maxpool', 'avgpool', 'conv'])
def test_downsample_modes(mode):
    neck = TNTFeaturePyramid(in_channels=4, scales=(1, 0.5, 0.25), downsample=mode)
    x = torch.randn(1, 4, 8, 12)
    _, half, quarter = neck((x, ))
    assert half.shape == (1, 4, 4, 6) and quarter.shape == (1, 4, 2, 3)
    if mode == 'avgpool':  # the TNT paper's DETR: 2x2 average of the stride-16 map
        torch.testing.assert_close(half, torch.nn.functional.avg_pool2d(x, 2))
    elif mode == 'maxpool':
        torch.testing.assert_close(half, torch.nn.functional.max_pool2d(x, 2))
    else:
        # one learned convolution per shrinking level, kernel = stride = 1 / scale
        assert sum(p.numel() for p in neck.parameters()) == (4 * 4 * 2 * 2 + 4) + (4 * 4 * 4 * 4 + 4)


def test_unknown_downsample_mode_is_named():
    with pytest.raises(ValueError, match="downsample must be one of"):
        TNTFeaturePyramid(in_channels=4, scales=(1, 0.5), downsample='bilinear')
