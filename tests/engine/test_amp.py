"""Mixed precision on a CPU: TNTBackbone (global and windowed attention, odd sizes), PyramidTNT, the
toy RetinaNet, UperNet and Trans2Seg train under float16 and bfloat16 autocast; their features stay
within a stated tolerance of float32 ('auto' attention's kernels by dtype: test_backbone.py)."""
import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config

from mmtnt import PyramidTNT, TNTBackbone
from mmtnt.engine import AutocastOptimWrapper

from helpers import TINY_ARCH, TINY_PTNT, randomize_
from helpers.configs import CONFIG_DIR, build_in_scope, seg_inputs

DTYPES = [torch.bfloat16, torch.float16]
# relative L2 distance of every feature map to float32's: float16 keeps 10 mantissa bits,
# bfloat16 7 (measured on these models, float16 / bfloat16: TNT 0.0009 / 0.007, PyramidTNT with
# its 2-channel words 0.004 / 0.039)
FEATURE_TOL = {torch.float16: 0.01, torch.bfloat16: 0.05}

BACKBONES = {
    'tnt': lambda: TNTBackbone(arch=TINY_ARCH, out_indices=(1, 2), pixel_out_indices=2,
                               pretrain_img_size=64),
    'tnt_window': lambda: TNTBackbone(arch=TINY_ARCH, out_indices=(1, 2), pixel_out_indices=2,
                                      window_size=2, global_attn_indices=(2, ),
                                      pretrain_img_size=64),
    'pyramid_tnt': lambda: PyramidTNT(arch=TINY_PTNT, pretrain_img_size=64,
                                      word_out_indices=(0, 1)),
}


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('name', BACKBONES)
@pytest.mark.parametrize('size', [(64, 64), (45, 77)])  # pretraining size; resampled and padded
def test_backbone_under_autocast(name, dtype, size):
    torch.manual_seed(0)
    model = randomize_(BACKBONES[name]()).train()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        reference = model(x)
    with torch.no_grad(), torch.autocast('cpu', dtype=dtype):
        features = model(x)
    assert len(features) == len(reference)
    for f, r in zip(features, reference):
        assert f.shape == r.shape and torch.isfinite(f).all()
        error = ((f.float() - r).norm() / r.norm()).item()
        assert error < FEATURE_TOL[dtype], f'{tuple(f.shape)}: relative error {error:.4f}'

    with torch.autocast('cpu', dtype=dtype):
        loss = sum((f.float() * torch.linspace(-1, 1, f.numel()).view_as(f)).sum()
                   for f in model(x))
    assert torch.isfinite(loss)
    loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


def _toy(name, dtype):
    cfg = Config.fromfile(str(CONFIG_DIR / 'toy' / name))
    torch.manual_seed(0)
    model = build_in_scope(cfg, 'model')
    model.init_weights()
    wrapper = AutocastOptimWrapper(dtype=dtype, optimizer=torch.optim.AdamW(
        model.parameters(), lr=1e-4), clip_grad=dict(max_norm=1.0))
    return model, wrapper


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
@pytest.mark.parametrize('name',
                         ['retinanet_tnt_toy.py', 'upernet_tnt_toy.py', 'trans2seg_tnt_toy.py'])
def test_toy_models_train_under_autocast(name, dtype):
    """A backward and a train step through AutocastOptimWrapper (float16 with loss scaling):
    finite losses, every parameter that float32 training updates gets a finite gradient, the
    step changes the backbone."""
    model, wrapper = _toy(name, dtype)
    if name.startswith('retinanet'):
        packed = demo_mm_inputs(batch_size=2, image_shapes=[(3, 128, 128), (3, 96, 128)],
                                num_items=[3, 2], num_classes=3)
    else:
        packed = seg_inputs(128, 128, batch=2, num_classes=4)
    model.train()
    data = model.data_preprocessor(packed, True)
    with wrapper.optim_context(model):
        losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()  # unscaled: float16's gradients may underflow here, never overflow
    for n, p in model.named_parameters():
        if p.requires_grad and p.grad is not None:
            assert torch.isfinite(p.grad).all(), n
    assert all(p.grad is not None for p in model.backbone.parameters())
    wrapper.zero_grad()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(packed, wrapper)
    assert torch.isfinite(log_vars['loss'])
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.startswith('backbone.') for n in changed)
    assert all(torch.isfinite(p).all() for p in model.parameters())
