"""tools/analysis/get_flops.py: the parameters it reports are the built model's, its FLOPs count
a multiply-add once (attention included, whichever kernel runs it), the default size is the
config's training size, and bad input is refused with a message."""
import importlib.util

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer

from helpers import ROOT
from helpers.configs import build_in_scope

TOOL = ROOT / 'tools' / 'analysis' / 'get_flops.py'
TOY_DET = str(ROOT / 'configs' / 'toy' / 'retinanet_tnt_toy.py')
TOY_SEG = str(ROOT / 'configs' / 'toy' / 'upernet_tnt_toy.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('get_flops', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_params_are_the_built_models(tool):
    cfg = tool.load_config(TOY_DET)
    model = build_in_scope(cfg, 'model')
    result = tool.count(cfg, (64, 64))
    assert result['params'] == sum(p.numel() for p in model.parameters())
    backbone = tool.count(cfg, (64, 64), part='backbone')
    assert backbone['params'] == sum(p.numel() for p in model.backbone.parameters())
    assert 0 < backbone['flops'] < result['flops']


class _Attention(nn.Module):

    def __init__(self, fused: bool) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, q, k, v):
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v)
        return torch.softmax(q @ k.transpose(-2, -1), -1) @ v


@pytest.mark.parametrize('fused', [True, False])
def test_attention_counts_its_two_matrix_products(tool, fused):
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 6)
    analyzer = FlopAnalyzer(_Attention(fused), (q, k, v))
    analyzer.set_op_handle(**{'aten::scaled_dot_product_attention': tool.sdpa_flop_jit})
    analyzer.unsupported_ops_warnings(False)
    assert analyzer.total() == 2 * 3 * 5 * 7 * (4 + 6)  # q k^T, then weights x v


def test_tnt_s_at_224_counts_as_the_paper(tool):
    # the TNT paper: TNT-S 5.2 G multiply-adds at 224x224
    cfg = tool.load_config(str(ROOT / 'configs' / 'tnt' / 'retinanet_tnt-s_fpn_1x_coco.py'))
    assert 5.1e9 < tool.count(cfg, (224, 224), part='backbone')['flops'] < 5.35e9


def test_either_attention_kernel_counts_the_same(tool):
    flops = [tool.count(tool.load_config(TOY_SEG, {'model.backbone.fused_attn': fused}),
                        (64, 64), part='backbone')['flops'] for fused in (True, False)]
    assert flops[0] == flops[1]


def test_flops_grow_with_the_pixels(tool):
    cfg = tool.load_config(TOY_SEG)
    small, large = (tool.count(cfg, s, part='backbone')['flops'] for s in ((64, 64), (128, 128)))
    # 4x the patches: 4x every per-token layer, a little more for the patch attention (N^2)
    assert 4.0 < large / small < 4.6


def test_input_is_padded_as_the_data_preprocessor_pads(tool):
    result = tool.count(tool.load_config(TOY_DET), (100, 70), part='features')
    assert result['shape'] == (100, 70)
    assert result['input_shape'] == (128, 96)  # pad_size_divisor=32


@pytest.mark.parametrize('name, shape', [
    ('tnt/retinanet_tnt-s_fpn_1x_coco.py', (800, 1333)),
    ('tnt/detr_tnt-s_8xb2-50e_coco.py', (800, 1333)),  # the largest of its random scales
    ('tnt/upernet_tnt-s_8xb2-160k_ade20k-512x512.py', (512, 512)),
    ('toy/trans2seg_tnt_toy.py', (128, 128)),
    ('toy/mask_rcnn_tnt_toy.py', (128, 128)),
])
def test_default_shape_is_the_training_size(tool, name, shape):
    assert tool.training_shape(tool.load_config(str(ROOT / 'configs' / name))) == shape


def test_main_prints_what_it_counted(tool, capsys):
    tool.main([TOY_DET, '--shape', '64', '--part', 'backbone'])
    out = capsys.readouterr().out
    assert 'input:   1x3x64x64\n' in out and 'counted: backbone\n' in out
    assert 'one multiply-add = 1 FLOP' in out and 'params:  ' in out


def test_bad_input_is_refused(tool, tmp_path, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args([str(tmp_path / 'missing.py')])
    assert 'no config file' in capsys.readouterr().err
    for shape in (['0', '64'], ['1', '2', '3']):
        with pytest.raises(SystemExit):
            tool.parse_args([TOY_DET, '--shape', *shape])
        assert '--shape takes H W or N' in capsys.readouterr().err
    with pytest.raises(ValueError, match='No config file'):
        tool.load_config(str(tmp_path / 'missing.py'))
    cfg = tool.load_config(TOY_DET)
    with pytest.raises(ValueError, match='shape must be two positive ints'):
        tool.count(cfg, (64, -1))
    with pytest.raises(ValueError, match='part must be one of'):
        tool.count(cfg, (64, 64), part='neck')
    cfg.train_dataloader.dataset.pipeline = [dict(type='LoadImageFromFile')]
    with pytest.raises(ValueError, match='pass --shape H W'):
        tool.training_shape(cfg)
