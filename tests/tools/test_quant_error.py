"""tools/analysis/quant_error.py: the measurements behind what each int8 model keeps float."""
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmtnt.utils import build_model

from helpers import ROOT, randomize_

pytest.importorskip('onnxruntime')
pytest.importorskip('openvino')
pytest.importorskip('nncf')


@pytest.mark.slow
def test_quant_error_measures_both_int8_models(tmp_path, toy_data_root):
    cfg = Config.fromfile(str(ROOT / 'configs' / 'toy' / 'retinanet_tnt_toy.py'))
    model = build_model(cfg)
    model.init_weights()
    randomize_(model, 0.02)
    ckpt = tmp_path / 'toy.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    opts = [f'{s}_dataloader.dataset.data_root={toy_data_root}' for s in ('train', 'test')]
    proc = subprocess.run([
        sys.executable, 'tools/analysis/quant_error.py', 'configs/toy/retinanet_tnt_toy.py',
        str(ckpt), '--calib', '2', '--images', '2', '--groups', 'attention', '--openvino',
        '--per-node', '--cfg-options'] + opts, cwd=ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # one group alone and the default set, in both runtimes; NNCF's model end to end
    for label in ('attention alone (onnxruntime', 'attention alone (openvino',
                  'default (linear + conv) (onnxruntime', 'default (linear + conv) (openvino'):
        assert re.search(r'[\d.]+ dB \| [\d.]+  ' + re.escape(label), log), label
    found = re.search(r'([\d.]+) dB \| [\d.]+  OpenVINO\'s int8 model \(NNCF: \{\'linear\': 37, '
                      r'\'conv\': 30, \'activations\': (\d+)\}', log)
    assert found and float(found.group(1)) > 20 and int(found.group(2)) >= 8, log[-3000:]
    # per product of NNCF's model: every Linear, conv and q @ k^T, each with its SQNR
    rows = re.findall(r'^.*INFO - +([\d.]+|inf) +(linear|conv|activations) +(\S+)$', log, re.M)
    kinds = [kind for _, kind, _ in rows]
    assert kinds.count('linear') == 37 and kinds.count('conv') == 30, rows[:5]
    assert all(float(db) > 10 for db, _, _ in rows), rows
