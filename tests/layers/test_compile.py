"""TNTBackbone compiles without graph breaks and agrees with eager mode; the benchmark runs."""
import json
import subprocess
import sys

import pytest
import torch

from mmtnt import TNTBackbone
from mmtnt.utils.cpu_features import cpu_bf16_support

from helpers import ROOT, TINY_ARCH, randomize_


@pytest.mark.slow
@pytest.mark.parametrize('kwargs', [dict(), dict(window_size=2, global_attn_indices=(1, ))])
def test_compile_agrees_without_graph_breaks(kwargs):
    torch._dynamo.reset()
    model = randomize_(TNTBackbone(arch=TINY_ARCH, pixel_out_indices=(2, ), **kwargs)).eval()
    x = torch.randn(2, 3, 50, 70)
    # fullgraph=True: any graph break raises (one compilation, where explain() compiles again)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        for a, b in zip(compiled(x), model(x)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_benchmark_quick_mode_runs(tmp_path):
    """tools/benchmark.py --quick: backbones with their memory; the toy RetinaNet in PyTorch and
    OpenVINO (fp32, int8; bf16 only where the CPU computes it natively), forward only. (Run as
    users run it, in a process of its own: in the test process, OpenVINO's threads outlive the
    benchmark, and a later test that signals itself crashed there.)"""
    pytest.importorskip('openvino')
    out = tmp_path / 'rows.json'
    proc = subprocess.run([sys.executable, 'tools/benchmark.py', '--quick', '--json', str(out)],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'matmul peak' in log and '| mmtnt TNTBackbone TNT-S |' in log
    assert 'forward+backward' in log and 'GiB' in log
    rows = json.loads(out.read_text())
    assert all(r['seconds'] > 0 for r in rows)
    timed = {(r['model'], r['backward']) for r in rows if r['model'].startswith('retinanet')}
    deployed = {'retinanet_toy_ov', 'retinanet_toy_ov_int8'} | (
        {'retinanet_toy_ov_bf16'} if cpu_bf16_support()[0] else set())
    assert timed == {(n, False) for n in deployed | {'retinanet_toy'}} | {('retinanet_toy', True)}
    # each deployed row carries what its backend reports it ran
    runs = {r['model']: (r['runs'], r['integer_ops'] > 0) for r in rows if 'runs' in r}
    assert runs == {'retinanet_toy_ov': ('fp32', False), 'retinanet_toy_ov_int8': ('int8', True),
                    **({'retinanet_toy_ov_bf16': ('bf16', False)} if cpu_bf16_support()[0]
                       else {})}


def test_benchmark_attention_kernels_table():
    """The measurement behind fused_attn='auto': both kernels timed on TNT-S's two shapes."""
    sys.path.insert(0, str(ROOT / 'tools'))
    try:
        from benchmark import time_attention_kernels
    finally:
        sys.path.pop(0)
    rows = time_attention_kernels(1, 'cpu').splitlines()[2:]
    assert [r.split(' | ')[:2] for r in rows] == [
        ['| inner (16 words)', 'forward'], ['| inner (16 words)', 'fwd+bwd'],
        ['| outer (197 patches)', 'forward'], ['| outer (197 patches)', 'fwd+bwd']]
    for r in rows:
        sdpa, manual = (float(c) for c in r.strip(' |').split(' | ')[2:])
        assert sdpa > 0 and manual > 0
