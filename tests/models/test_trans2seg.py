"""Trans2SegHead: shapes at odd sizes, gradients, the class count from the configs, its parts
against references (PyTorch's multi-head attention, the per-class concatenation it avoids), and
clear errors for bad arguments."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from mmtnt import TNTBackbone
from mmtnt.layers import PrototypeAttention, split_pointwise
from mmtnt.models import Trans2SegHead

from helpers import ROOT, TINY_ARCH, randomize_

CONFIGS = ROOT / 'configs'
FINE, COARSE = TINY_ARCH['inner_dims'], TINY_ARCH['embed_dims']


@pytest.fixture(autouse=True)
def _mmseg_scope():
    # the head builds its loss from mmseg's registry: under mmseg's scope, whatever an earlier
    # test left as the default scope (as an mmseg config runs it)
    with DefaultScope.overwrite_default_scope('mmseg'):
        init_default_scope('mmseg')
        yield


def _backbone():
    return TNTBackbone(arch=TINY_ARCH, out_indices=(2, ), pixel_out_indices=(2, ))


def _head(**kwargs):
    args = dict(in_channels=(FINE, COARSE), in_index=(1, 0), channels=16, embed_dims=32,
                num_layers=2, num_heads=4, mlp_ratio=2., pos_grid=(4, 4), num_classes=5)
    head = Trans2SegHead(**(args | kwargs))
    head.init_weights()
    return head


@pytest.mark.parametrize('size', [(64, 64), (97, 131), (33, 17), (250, 90)])
def test_logits_at_the_fine_maps_size_for_any_input(size):
    backbone, head = _backbone(), _head()
    feats = backbone(torch.randn(2, 3, *size))
    fine = feats[1]  # stride 4; the coarse grid is the stored 4x4 at 64x64 only (resampled else)
    out = head(feats)
    assert out.shape == (2, 5, *fine.shape[-2:])
    assert torch.isfinite(out).all()


def test_every_parameter_gets_a_gradient():
    backbone, head = _backbone(), _head(num_layers=3)
    head.train()
    out = head(backbone(torch.randn(2, 3, 80, 48)))
    out.square().mean().backward()
    missing = [n for n, p in [*head.named_parameters(), *backbone.named_parameters()]
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_classes_are_decoded_independently():
    # no attention between prototypes: one class's prototype moves its own logits only
    backbone, head = _backbone().eval(), randomize_(_head()).eval()
    feats = backbone(torch.randn(1, 3, 64, 96))
    with torch.no_grad():
        base = head(feats)
        head.prototypes[0, 3] += torch.randn(32)  # (a constant shift LayerNorm removes)
        moved = head(feats)
    changed = (moved - base).abs().flatten(2).amax(-1)[0]
    assert changed[3] > 1e-5
    assert changed[[0, 1, 2, 4]].max() == 0


def test_prototype_attention_equals_pytorch_multihead_attention():
    dim, heads = 32, 4
    ours = randomize_(PrototypeAttention(dim, heads, qkv_bias=True)).eval()
    ref = nn.MultiheadAttention(dim, heads, bias=True, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    queries, tokens = torch.randn(2, 7, dim), torch.randn(2, 45, dim)
    out, logits = ours(queries, tokens)
    ref_out, ref_weights = ref(queries, tokens, tokens, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits.softmax(-1), ref_weights, atol=1e-6, rtol=1e-5)
    maps_only = PrototypeAttention(dim, heads, qkv_bias=True, with_output=False)
    maps_only.load_state_dict(ours.state_dict(), strict=False)
    torch.testing.assert_close(maps_only(queries, tokens), logits)


def test_split_pointwise_equals_the_convolution_of_the_per_class_concatenation():
    shared, per_class = torch.randn(2, 6, 5, 7), torch.randn(2 * 3, 4, 5, 7)
    weight = torch.randn(8, 10, 1, 1)
    concat = torch.cat([shared.repeat_interleave(3, dim=0), per_class], dim=1)
    torch.testing.assert_close(split_pointwise(shared, per_class, weight, 3),
                               F.conv2d(concat, weight), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('config, classes', [
    ('trans2seg/trans2seg_tnt-s_8xb2-160k_ade20k-512x512.py', 150),
    ('toy/trans2seg_tnt_toy.py', 4)])
def test_class_count_comes_from_the_config(config, classes):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(CONFIGS / config)).model.decode_head
    head = MODELS.build(cfg)
    assert head.prototypes.shape[1] == classes
    cfg.num_classes = 7
    assert MODELS.build(cfg).prototypes.shape[1] == 7


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_classes=0), 'num_classes must be a positive int'),
    (dict(num_classes=2.5), 'num_classes must be a positive int'),
    (dict(in_channels=(FINE, COARSE, 8)), 'in_channels must be 2 positive ints'),
    (dict(in_channels=COARSE), 'in_channels must be 2 positive ints'),
    (dict(in_index=0), 'in_index must be 2 ints'),
    (dict(input_transform='resize_concat'), "input_transform must be 'multiple_select'"),
    (dict(embed_dims=30), 'not divisible by num_heads'),
    (dict(num_layers=0), 'num_layers must be a positive int'),
    (dict(pos_grid=(4, )), 'pos_grid must be 2 positive ints'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _head(**kwargs)


def test_channels_mismatching_the_backbone():
    feats = _backbone()(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r'built for in_channels=\(8, 64\).*\(8, 48\) channels'):
        _head(in_channels=(FINE, 64))(feats)
    with pytest.raises(ValueError, match=r'in_index=\(fine, coarse\)'):
        _head(in_channels=(COARSE, FINE), in_index=(0, 1))(feats)


def test_any_mmseg_backbone_resnet_at_output_stride_16():
    # configs/trans2seg/README.md, "Other backbones" (ResNet-18 here for speed: 64 / 512 channels)
    from mmseg.registry import MODELS
    backbone = MODELS.build(dict(type='ResNetV1c', depth=18, out_indices=(0, 1, 2, 3),
                                 strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)))
    head = _head(in_channels=(64, 512), in_index=(0, 3))
    feats = backbone(torch.randn(2, 3, 96, 80))
    assert feats[3].shape[-2:] == (6, 5)  # stride 16
    assert head(feats).shape == (2, 5, 24, 20)
