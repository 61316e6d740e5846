import copy

import pytest
import torch

from mmtnt import TNTBackbone
from mmtnt.layers import window_partition, window_unpartition

from helpers import TINY_ARCH, randomize_


def test_partition_roundtrip_with_padding():
    x = torch.randn(2, 5, 7, 3)
    windows, padded = window_partition(x, 3)
    assert padded == (6, 9) and windows.shape == (2 * 2 * 3, 9, 3)
    torch.testing.assert_close(window_unpartition(windows, 3, padded, (5, 7)), x)


@pytest.mark.parametrize('size, window', [((112, 80), 7), ((100, 70), 7), ((64, 64), 4)])
def test_one_window_covering_the_grid_equals_global(size, window):
    """Padded keys are masked, so a single window (padded or not) is exactly global attention."""
    glob = randomize_(TNTBackbone(arch=TINY_ARCH, out_indices=(0, 2))).eval()
    win = TNTBackbone(arch=TINY_ARCH, out_indices=(0, 2), window_size=window).eval()
    win.load_state_dict(glob.state_dict())
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        for a, b in zip(win(x), glob(x)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('fused', [True, False])
def test_small_windows_change_outputs_and_global_blocks_stay_global(fused):
    glob = randomize_(TNTBackbone(arch=TINY_ARCH, fused_attn=fused)).eval()
    win = TNTBackbone(arch=TINY_ARCH, window_size=2, global_attn_indices=(1, ),
                      fused_attn=fused).eval()
    win.load_state_dict(glob.state_dict())
    assert [b.outer.attn.window_size for b in win.blocks] == [2, 0, 2]
    assert all(b.inner.attn.window_size == 0 for b in win.blocks)
    x = torch.randn(1, 3, 80, 96)
    assert not torch.allclose(win(x)[0], glob(x)[0], atol=1e-4)


def test_windowed_fused_equals_manual_and_trains():
    model = randomize_(TNTBackbone(arch=TINY_ARCH, window_size=3))
    manual = copy.deepcopy(model)
    for m in manual.modules():
        if hasattr(m, 'fused_attn'):
            m.fused_attn = False
    x = torch.randn(2, 3, 100, 75)
    model.eval(), manual.eval()
    torch.testing.assert_close(model(x)[0], manual(x)[0], atol=1e-5, rtol=1e-5)
    model.train()
    model(x)[0].sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_window_config_errors():
    with pytest.raises(ValueError, match='window_size'):
        TNTBackbone(arch=TINY_ARCH, window_size=-1)
    with pytest.raises(ValueError, match='global_attn_indices'):
        TNTBackbone(arch=TINY_ARCH, window_size=4, global_attn_indices=(5, ))
