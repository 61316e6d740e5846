"""ONNX export: exported at one size, run in ONNX Runtime at others (odd sides, smaller than the
position grid, batch 2), equal to PyTorch; the export tool end to end on a toy checkpoint."""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmtnt.deploy import (AdaptiveAvgPoolAsMatmul, OnnxRuntimeModel, build_graph, check_onnx,
                          export_onnx, make_pooling_exportable, model_task)
from mmtnt.layers import aa_bicubic_weights, resample_grid
from mmtnt.models.backbones.tnt import TNTBackbone
from mmtnt.utils import build_model

from helpers import ROOT, TINY_ARCH, randomize_

ort = pytest.importorskip('onnxruntime')
ODD_SIZES = [(2, 97, 301), (1, 33, 17), (1, 5, 7), (1, 200, 130)]
# the toy detector's smallest level pools a 2x2 map: images of 32 pixels a side at least
MODEL_SIZES = [(2, 97, 301), (1, 33, 47), (1, 200, 130)]


def _rel_diff(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize('n_in', [1, 2, 4, 7, 14, 24])
def test_aa_bicubic_weights_equal_torch_antialiased_bicubic(n_in):
    x = torch.randn(2, 3, n_in, 5)
    for n_out in (1, 3, 5, 7, 13, 14, 19, 28, 50):
        ref = F.interpolate(x, size=(n_out, 5), mode='bicubic', align_corners=False,
                            antialias=True)
        got = aa_bicubic_weights(n_in, n_out) @ x
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    assert torch.equal(aa_bicubic_weights(n_in, n_in), torch.eye(n_in))


def test_resample_grid_is_the_linear_map():
    x = torch.randn(1, 4, 14, 14)
    ref = F.interpolate(x, size=(9, 31), mode='bicubic', align_corners=False, antialias=True)
    torch.testing.assert_close(resample_grid(x, (9, 31)), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('size', [(6, 6), (7, 9), (13, 5), (3, 2), (1, 1), (20, 17)])
@pytest.mark.parametrize('out', [(1, 1), (2, 2), (3, 6), (6, 3)])
def test_adaptive_pool_as_matmul_equals_adaptive_avg_pool(size, out):
    x = torch.randn(2, 3, *size)
    torch.testing.assert_close(AdaptiveAvgPoolAsMatmul(out)(x), nn.AdaptiveAvgPool2d(out)(x))


def test_make_pooling_exportable_keeps_global_pooling():
    m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.AdaptiveAvgPool2d((2, 3))))
    assert make_pooling_exportable(m) == 1
    assert isinstance(m[0], nn.AdaptiveAvgPool2d) and isinstance(m[1][0], AdaptiveAvgPoolAsMatmul)


def _backbone(**kwargs):
    m = TNTBackbone(arch=TINY_ARCH, pretrain_img_size=64, **kwargs)
    return randomize_(m).eval()


def _export_and_compare(module, path, example, dynamo=False):
    if dynamo:
        Dim = torch.export.Dim
        torch.onnx.export(module, (example, ), path, dynamo=True, input_names=['x'],
                          external_data=False, dynamic_shapes=(
                              {0: Dim('b', min=1), 2: Dim('h', min=1), 3: Dim('w', min=1)}, ))
    else:
        torch.onnx.export(module, (example, ), path, dynamo=False, opset_version=17,
                          input_names=['x'], dynamic_axes={'x': {0: 'b', 2: 'h', 3: 'w'}})
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    worst = 0.
    for b, h, w in ODD_SIZES:
        x = torch.randn(b, 3, h, w)
        with torch.no_grad():
            ref = module(x)
        got = session.run(None, {'x': x.numpy()})
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            assert g.shape == r.shape
            worst = max(worst, _rel_diff(torch.from_numpy(g), r))
    return worst


@pytest.mark.parametrize('kwargs', [
    dict(out_indices=(0, 2), pixel_out_indices=(2, )),
    dict(out_indices=(2, ), window_size=3, global_attn_indices=(1, )),
    dict(out_indices=(2, ), legacy=True),
], ids=['pixel-maps', 'windowed', 'legacy'])
def test_backbone_onnx_at_sizes_it_was_not_traced_at(tmp_path, kwargs):
    model = _backbone(**kwargs)
    # traced at 64x96 (grid 4x6, no padding): 97x301 pads, 5x7 is smaller than the 4x4 grid
    assert _export_and_compare(model, tmp_path / 'b.onnx', torch.randn(1, 3, 64, 96)) < 1e-4


def test_pyramid_tnt_onnx_at_sizes_it_was_not_traced_at(tmp_path):
    from mmtnt import PyramidTNT
    model = randomize_(PyramidTNT(arch='ti', pretrain_img_size=128, out_indices=(0, 1, 2, 3),
                                  word_out_indices=(0, ))).eval()
    # traced at 128x128 (no padding, grids 16 / 8 / 4 / 2): the others pad, odd grids pool
    # partial windows and resample the position grid and every stage's relative bias
    assert _export_and_compare(model, tmp_path / 'p.onnx', torch.randn(1, 3, 128, 128)) < 1e-4


@pytest.mark.slow
def test_backbone_onnx_through_torch_export(tmp_path):
    pytest.importorskip('onnxscript')
    model = _backbone(out_indices=(0, 2), pixel_out_indices=(2, ))
    assert _export_and_compare(model, tmp_path / 'b.onnx', torch.randn(2, 3, 64, 96),
                               dynamo=True) < 1e-4


def _toy_model(config):
    cfg = Config.fromfile(str(ROOT / 'configs' / 'toy' / config))
    if cfg.default_scope == 'mmdet':
        cfg.model.test_cfg.score_thr = 0.0  # untrained: keep every box to compare them
    model = build_model(cfg)
    model.init_weights()
    return randomize_(model, 0.02).eval()


@pytest.fixture(scope='module',
                params=['retinanet_tnt_toy.py', 'upernet_tnt_toy.py', 'trans2seg_tnt_toy.py'])
def exported_toy(request, tmp_path_factory):
    torch.manual_seed(0)
    model = _toy_model(request.param)
    path = str(tmp_path_factory.mktemp('onnx') / 'model.onnx')
    names = export_onnx(model, path, (128, 128), dynamic=True)
    return model, path, names


def test_toy_model_onnx_at_sizes_it_was_not_traced_at(exported_toy):
    model, path, names = exported_toy
    report = check_onnx(model, path, [(1, 128, 128)] + MODEL_SIZES)
    assert max(r['max_rel'] for r in report) < 1e-4
    if model_task(model) == 'detection':
        assert names == [f'{kind}_{i}' for kind in ('cls_scores', 'bbox_preds') for i in range(5)]
    else:
        assert names == ['seg_logits']


def _packed(model, h, w, batch=2):
    """A batch as the dataloader gives it: uint8 images and data samples with their meta."""
    from mmdet.structures import DetDataSample
    from mmseg.structures import SegDataSample
    sample = DetDataSample if model_task(model) == 'detection' else SegDataSample
    samples = []
    for _ in range(batch):
        s = sample()
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h * 2, w * 2), scale_factor=(.5, .5),
                            pad_shape=(h, w)))
        samples.append(s)
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for _ in range(batch)]
    return dict(inputs=images, data_samples=samples)


def test_onnx_runtime_predictions_equal_pytorch(exported_toy):
    model, path, _ = exported_toy
    runtime = OnnxRuntimeModel(path, model=model)
    packed = _packed(model, 93, 141)  # padded by the preprocessor to 96x160 (detection)
    with torch.no_grad():
        ref = model.test_step(_packed(model, 93, 141) | dict(inputs=packed['inputs']))
    got = runtime.predict(packed)
    for g, r in zip(got, ref):
        if model_task(model) == 'detection':
            g, r = g.pred_instances, r.pred_instances
            assert len(r.bboxes) > 0 and len(g.bboxes) == len(r.bboxes)
            torch.testing.assert_close(g.bboxes, r.bboxes, atol=1e-3, rtol=1e-4)
            torch.testing.assert_close(g.scores, r.scores, atol=1e-5, rtol=1e-4)
            assert torch.equal(g.labels, r.labels)
        else:
            assert g.seg_logits.data.shape == (4, 186, 282)
            torch.testing.assert_close(g.seg_logits.data, r.seg_logits.data, atol=1e-4,
                                       rtol=1e-4)


def test_two_stage_detector_is_refused_with_a_reason():
    with pytest.raises(ValueError, match='single-stage detectors'):
        build_graph(_toy_model('mask_rcnn_tnt_toy.py'))


@pytest.mark.slow
def test_export_tool_end_to_end(tmp_path):
    torch.manual_seed(0)
    model = _toy_model('retinanet_tnt_toy.py')
    ckpt = tmp_path / 'toy.pth'
    save_checkpoint(model.state_dict(), str(ckpt))
    out = tmp_path / 'toy.onnx'
    proc = subprocess.run(
        [sys.executable, 'tools/export_onnx.py', 'configs/toy/retinanet_tnt_toy.py', str(ckpt),
         '--out', str(out), '--dynamic', '--check-sizes', '2:97x301', '61x47'],
        cwd=ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert out.exists()
    assert 'ONNX Runtime vs PyTorch at 2x3x97x301' in log
    assert 'ONNX Runtime vs PyTorch at 1x3x61x47' in log
    assert 'largest relative difference over 2 sizes' in log

    # a size that is not one gets a clear error
    proc = subprocess.run(
        [sys.executable, 'tools/export_onnx.py', 'configs/toy/retinanet_tnt_toy.py', str(ckpt),
         '--out', str(out), '--check-sizes', '97by301'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and 'is not a size' in proc.stderr
