"""tools/gpu_check.py rehearsed on a CPU (--quick), so that the script a lent GPU runs cannot rot;
its report format; per-part time limits; its part processes die with it; the carried bundle
installs."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmtnt.utils import cpu_bf16_support

from helpers import ROOT

sys.path.insert(0, str(ROOT / 'tools'))
from gpu_check import PARTS  # noqa: E402

sys.path.pop(0)


def _gpu_check(out, *args, timeout=600):
    tmp = out / 'tmp'  # where its scratch folder goes (gone at the end)
    tmp.mkdir(parents=True)
    proc = subprocess.run([sys.executable, 'tools/gpu_check.py', '--device', 'cpu', '--quick',
                           '--out', str(out), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, TMPDIR=str(tmp)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not list(tmp.glob('gpu_check_*')), 'gpu_check left its scratch folder behind'
    return json.loads((out / 'report.json').read_text())


@pytest.mark.slow
def test_rehearsal_on_cpu(tmp_path, toy_data_root):
    report = _gpu_check(tmp_path, '--toy-data', str(toy_data_root))
    parts = report['parts']
    assert list(parts) == PARTS
    status = {name: p['status'] for name, p in parts.items()}
    native_bf16 = cpu_bf16_support()[0]
    assert status == dict(install='skipped', toolchain='ok', mmcv_ops='ok', mmcv_lite='skipped',
                          parity='ok', toy_train='ok',
                          toy_train_amp='ok' if native_bf16 else 'skipped', speed_224='ok',
                          speed_800='ok'), parts
    # the toolchain of torch's CUDA version, found or assembled, compiled one CUDA file of mmcv
    toolchain = parts['toolchain']['result']
    assert toolchain['nvcc'] == toolchain['torch_cuda']
    assert toolchain['origin'] in ('wheels', 'completed', 'machine'), toolchain
    ops = parts['mmcv_ops']['result']
    assert ops['compiled'] == ['focal_loss_cuda.cu'] and ops['build_seconds'] > 0, ops
    assert ops['kernels'] in (['sm_90'], None), ops  # None: the toolkit found has no cuobjdump
    for result in parts['parity']['result'].values():  # the same device: identical
        assert result['max_abs_diff'] == 0 and result['outputs'] >= 2
    rows = parts['speed_224']['result']['rows']
    assert {(r['model'], r['backward']) for r in rows} == {
        (m, b) for m in ('mmtnt', 'timm_tnt', 'timm_deit') for b in (False, True)}
    assert all(r['seconds'] > 0 for r in rows)
    # bfloat16 autocast only where the CPU has native bfloat16 (emulated it is ~200x slower)
    for name in ('speed_224', 'speed_800'):
        assert parts[name]['result']['amp'] == ('bfloat16' if native_bf16 else 'float32')
        assert parts[name]['result']['autocast'] == native_bf16
    assert report['machine']['cpu_bf16'] == native_bf16
    train = parts['toy_train']['result']
    assert train['iterations'] == 2 and train['checkpoint'] and train['last_loss'] > 0
    assert train['optim_wrapper'] == 'OptimWrapper' and train['amp'] == 'float32'
    assert train['s_per_iter'] > 0 and train['bbox_mAP'] is None  # --quick: no validation
    if native_bf16:
        amp = parts['toy_train_amp']['result']
        assert amp['optim_wrapper'] == 'AutocastOptimWrapper' and amp['amp'] == 'bfloat16'
    else:
        assert 'no --amp on this CPU' in parts['toy_train_amp']['reason']
    targets = {t['target'][:3]: t for t in report['targets']}
    assert len(report['targets']) == 4 and targets['224']['ratio'] > 0
    assert report['machine']['device'] == 'cpu' and report['machine']['torch']
    md = (tmp_path / 'report.md').read_text()
    assert '| part | status | seconds | note |' in md and '## Targets' in md
    assert '| mmtnt TNTBackbone TNT-S |' in md and '| toy_train | ok |' in md
    assert 'focal_loss_cuda.cu only; kernels ' in md and 'float32, 2 iterations' in md
    log = (tmp_path / 'log.txt').read_text()
    assert all(re.search(rf'===== {name} \(limit \d+ s, pid \d+\) =====', log)
               for name in ('toolchain', 'mmcv_ops', 'parity', 'speed_224', 'toy_train'))


def test_a_part_past_its_limit_is_stopped_and_reported(tmp_path):
    report = _gpu_check(tmp_path, '--parts', 'parity', '--limits', 'parity=1', timeout=120)
    assert report['parts']['parity']['status'] == 'timeout'
    assert report['parts']['speed_224'] == dict(status='skipped', reason='not in --parts')
    assert 'ran past its 1 s limit' in (tmp_path / 'report.md').read_text()


def test_bad_limits_are_refused(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/gpu_check.py', '--out', str(tmp_path),
                           '--limits', 'parity=soon'], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and '--limits takes PART=SECONDS' in proc.stderr


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, left unreaped by a container's init, does not)."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(')', 1)[1].split()[0] not in ('Z', 'X')


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG and /proc')
@pytest.mark.parametrize('signum', [signal.SIGKILL, signal.SIGTERM], ids=['SIGKILL', 'SIGTERM'])
def test_the_part_process_dies_with_gpu_check(tmp_path, signum):
    """A `timeout` (SIGTERM) or a kill (SIGKILL) of gpu_check ends its running part at once, not
    when the part is done (speed_224 --quick runs for many seconds more)."""
    log = tmp_path / 'log.txt'
    main = subprocess.Popen([sys.executable, 'tools/gpu_check.py', '--device', 'cpu', '--quick',
                             '--out', str(tmp_path), '--parts', 'speed_224'], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    header = re.compile(r'===== speed_224 \(limit \d+ s, pid (\d+)\) =====')
    pid = None
    try:
        assert _wait(lambda: log.exists() and header.search(log.read_text()), 60), \
            main.communicate(timeout=60)[0][-3000:]
        pid = int(header.search(log.read_text()).group(1))
        assert _alive(pid)
        main.send_signal(signum)
        assert _wait(lambda: not _alive(pid), 5), f'part process {pid} outlived gpu_check'
        rc = main.wait(timeout=60)
    finally:
        main.kill()
        main.wait()
        if pid and _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    if signum == signal.SIGKILL:
        assert rc == -signal.SIGKILL
        return
    assert rc == 128 + signal.SIGTERM  # it still writes the report of what ran
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['parts']['speed_224'] == dict(
        status='stopped', reason='killed: gpu_check got SIGTERM',
        seconds=report['parts']['speed_224']['seconds'])
    assert report['parts']['speed_800'] == dict(status='skipped', reason='gpu_check got SIGTERM')


@pytest.mark.slow
def test_prepared_bundle_installs_and_builds_mmcv_lite(tmp_path):
    """tools/prepare_gpu_bundle.sh (from the package registry), then the install and the mmcv
    build without ops as the GPU machine runs them (here only the wheels this Python takes)."""
    bundle = tmp_path / 'bundle'
    # the script downloads with this interpreter's pip (${PYTHON:-python}, not PATH's python)
    subprocess.run(['bash', 'tools/prepare_gpu_bundle.sh', str(bundle)], cwd=ROOT, check=True,
                   capture_output=True, timeout=600, env=dict(os.environ, PYTHON=sys.executable))
    names = {p.name.split('-')[0] for p in bundle.iterdir()}
    assert {'mmengine', 'mmdet', 'mmsegmentation', 'mmcv', 'mmtnt', 'pycocotools',
            'setuptools'} <= names
    report = _gpu_check(tmp_path / 'out', '--parts', 'install', 'mmcv_lite', '--wheels',
                        str(bundle), '--site', str(tmp_path / 'site'))
    install = report['parts']['install']
    assert install['status'] == 'ok', install
    assert any(w.startswith('mmengine-') for w in install['result']['installed'])
    assert report['parts']['mmcv_lite']['status'] == 'ok', report['parts']['mmcv_lite']
    assert (tmp_path / 'site' / 'mmcv' / '__init__.py').exists()
    assert not list((tmp_path / 'site').glob('mmcv/_ext*'))  # no compiled ops
