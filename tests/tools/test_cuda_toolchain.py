"""The CUDA build on GPU hosts, checked without a GPU: which nvcc tools/cuda_toolchain.py takes
(and refuses), the CUDA_HOME it lays out, the pins against torch's CUDA version, and (slow)
mmcv's CUDA sources compiled by the registry's toolchain with tools/check_cuda_build.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import ROOT

sys.path.insert(0, str(ROOT / 'tools'))
import check_cuda_build  # noqa: E402
import cuda_toolchain  # noqa: E402
from cuda_toolchain import ToolchainError  # noqa: E402

sys.path.pop(0)

needs_cuda_torch = pytest.mark.skipif(
    not torch.version.cuda or not cuda_toolchain.runtime_roots(torch.version.cuda.split('.')[0]),
    reason='a pip-installed CUDA build of torch (tools/constraints.txt pins one)')


def fake_toolkit(root: Path, release: str, complete: bool) -> Path:
    """A folder laid out as a CUDA toolkit whose nvcc only answers --version."""
    (root / 'bin').mkdir(parents=True)
    (root / 'nvvm').mkdir()
    (root / 'include').mkdir()
    (root / 'lib64').mkdir()
    nvcc = root / 'bin' / 'nvcc'
    nvcc.write_text('#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler driver"\n'
                    f'echo "Cuda compilation tools, release {release}, V{release}.99"\n')
    nvcc.chmod(0o755)
    (root / 'include' / 'crt_marker.h').write_text('')
    if complete:
        for header in cuda_toolchain.TORCH_NEEDS_HEADERS:
            (root / 'include' / header).write_text('')
        (root / 'lib64' / 'libcudart.so').write_text('')
    return root


def test_pins_match_torch():
    """tools/constraints.txt pins every toolchain wheel, at torch's CUDA version (a torch pin of
    another CUDA version without new toolchain pins fails here, before a GPU host)."""
    pins = cuda_toolchain.pinned_versions(cuda_toolchain.TOOLCHAIN_PACKAGES)
    assert set(pins) == set(cuda_toolchain.TOOLCHAIN_PACKAGES)
    if torch.version.cuda:
        for package in ('nvidia-cuda-nvcc', 'nvidia-cuda-crt', 'nvidia-nvvm'):
            assert pins[package].startswith(torch.version.cuda + '.'), (package, pins[package])


def test_pinned_versions_names_what_is_missing(tmp_path):
    constraints = tmp_path / 'c.txt'
    constraints.write_text('nvidia-cuda-nvcc==13.0.88  # the compiler\n')
    with pytest.raises(ToolchainError, match='pins no version of nvidia-nvvm'):
        cuda_toolchain.pinned_versions(('nvidia-cuda-nvcc', 'nvidia-nvvm'), str(constraints))


@needs_cuda_torch
def test_a_complete_toolkit_of_torch_version_is_used(tmp_path, monkeypatch):
    home = fake_toolkit(tmp_path / 'cuda', torch.version.cuda, complete=True)
    monkeypatch.setattr(cuda_toolchain, 'install_registry_toolchain',
                        lambda *a, **k: pytest.fail('the registry toolchain was installed'))
    assert cuda_toolchain.choose('auto', env=dict(PATH=str(home / 'bin'))) == str(home)
    assert cuda_toolchain.choose('auto', env=dict(CUDA_HOME=str(home), PATH='')) == str(home)


def _other_versions():
    if not torch.version.cuda:
        return ['12.4']
    major, minor = torch.version.cuda.split('.')
    return [f'{int(major) - 1}.4', f'{major}.{int(minor) + 1}']  # another major / minor version


@needs_cuda_torch
@pytest.mark.parametrize('release', _other_versions())
def test_another_version_on_path_is_said_and_replaced(tmp_path, monkeypatch, capsys, release):
    home = fake_toolkit(tmp_path / 'cuda', release, complete=True)
    calls = []
    monkeypatch.setattr(cuda_toolchain, 'install_registry_toolchain',
                        lambda dest, release, pip_args=(): calls.append(release) or dest)
    got = cuda_toolchain.choose('auto', dest=str(tmp_path / 'registry'),
                                env=dict(PATH=str(home / 'bin')))
    assert got == str(tmp_path / 'registry') and calls == [torch.version.cuda]
    said = capsys.readouterr().err
    assert f'CUDA {release}' in said and f'torch needs CUDA {torch.version.cuda}' in said


@needs_cuda_torch
@pytest.mark.parametrize('release', _other_versions())
def test_the_users_toolkit_of_another_version_stops_with_the_ways_out(tmp_path, monkeypatch,
                                                                      release):
    home = fake_toolkit(tmp_path / 'cuda', release, complete=True)
    monkeypatch.setattr(cuda_toolchain, 'install_registry_toolchain',
                        lambda *a, **k: pytest.fail('the registry toolchain was installed'))
    with pytest.raises(ToolchainError) as e:
        cuda_toolchain.choose('auto', env=dict(CUDA_HOME=str(home), PATH=''))
    message = str(e.value)
    assert f'CUDA_HOME={home} has CUDA {release}' in message
    assert f'built for CUDA {torch.version.cuda}' in message
    assert f'point CUDA_HOME at a complete CUDA {torch.version.cuda} toolkit' in message
    assert 'unset CUDA_HOME and CUDA_PATH' in message


@needs_cuda_torch
def test_registry_mode_ignores_a_usable_toolkit(tmp_path, monkeypatch):
    home = fake_toolkit(tmp_path / 'cuda', torch.version.cuda, complete=True)
    monkeypatch.setattr(cuda_toolchain, 'install_registry_toolchain',
                        lambda dest, release, pip_args=(): 'registry')
    assert cuda_toolchain.choose('registry', env=dict(CUDA_HOME=str(home))) == 'registry'
    with pytest.raises(ToolchainError, match="'system': use auto or registry"):
        cuda_toolchain.choose('system')


@needs_cuda_torch
def test_an_incomplete_toolkit_is_completed_with_torchs_cuda_libraries(tmp_path):
    """nvcc of torch's version without cuSPARSE / cuBLAS headers or libcudart.so (a toolkit made
    of wheels): a CUDA_HOME with its compiler and the pip-installed libraries' headers and
    runtime, laid out as a toolkit; laid out once, then reused."""
    toolkit = fake_toolkit(tmp_path / 'cuda', torch.version.cuda, complete=False)
    env = dict(PATH=str(toolkit / 'bin'))
    dest = tmp_path / 'share' / 'cuda'
    home = Path(cuda_toolchain.choose('auto', dest=str(dest), env=env))
    assert home == tmp_path / 'share' / 'cuda-local'
    assert (home / 'bin').resolve() == toolkit / 'bin'
    for header in cuda_toolchain.TORCH_NEEDS_HEADERS + ('crt_marker.h', ):
        assert (home / 'include' / header).exists(), header
    assert (home / 'lib64' / 'libcudart.so').resolve().name.startswith('libcudart.so.')
    assert (home / 'targets' / 'x86_64-linux' / 'include' / 'cusparse.h').exists()
    assert cuda_toolchain.describe(str(home), 'test', False)['missing'] == []
    marker = json.loads((home / cuda_toolchain.MARKER).read_text())
    assert marker['completes'] == str(toolkit)
    stamp = (home / cuda_toolchain.MARKER).stat().st_mtime_ns
    assert cuda_toolchain.choose('auto', dest=str(dest), env=env) == str(home)
    assert (home / cuda_toolchain.MARKER).stat().st_mtime_ns == stamp  # reused


@needs_cuda_torch
def test_unpacked_wheels_are_laid_out_as_a_toolkit(tmp_path):
    """The registry's wheels, unpacked, moved into a CUDA_HOME built beside its place and renamed
    into it: every link still resolves (libnvvm, the runtime), nvcc and cicc are files."""
    major = torch.version.cuda.split('.')[0]
    wheels = fake_toolkit(tmp_path / 'wheels' / 'nvidia' / f'cu{major}', torch.version.cuda,
                          complete=False)
    (wheels / 'lib').mkdir()
    (wheels / 'lib' / 'libnvvm.so.4').write_text('')
    (wheels / 'nvvm' / 'bin').mkdir()
    (wheels / 'nvvm' / 'bin' / 'cicc').write_text('')
    roots = cuda_toolchain.runtime_roots(major)
    dest = tmp_path / 'share' / f'cuda-{torch.version.cuda}'
    home = Path(cuda_toolchain._lay_out(
        str(dest), dict(release=torch.version.cuda),
        lambda staging, home: cuda_toolchain.assemble(home, str(wheels), roots)))
    assert home == dest and not list((tmp_path / 'share').glob('.cuda-*'))  # staging gone
    assert not (home / 'bin').is_symlink() and (home / 'bin' / 'nvcc').is_file()
    assert (home / 'nvvm' / 'bin' / 'cicc').is_file()
    broken = [p.name for p in (home / 'lib64').iterdir() if not p.exists()]
    broken += [p.name for p in (home / 'include').iterdir() if not p.exists()]
    assert broken == []
    assert (home / 'lib64' / 'libnvvm.so.4').resolve() == home / 'lib' / 'libnvvm.so.4'
    assert cuda_toolchain.describe(str(home), 'test', False)['missing'] == []


def test_a_folder_not_laid_out_by_mmtnt_is_not_replaced(tmp_path):
    (tmp_path / 'mine').mkdir()
    with pytest.raises(ToolchainError, match='is not a toolchain mmtnt assembled'):
        cuda_toolchain._lay_out(str(tmp_path / 'mine'), {}, lambda staging, home: None)
    assert (tmp_path / 'mine').is_dir()


def test_arch_list(monkeypatch):
    assert cuda_toolchain.arch_list(dict(TORCH_CUDA_ARCH_LIST='8.0;9.0')) == '8.0;9.0'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 3)
    caps = {0: (9, 0), 1: (8, 6), 2: (9, 0)}
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda i: caps[i])
    assert cuda_toolchain.arch_list({}) == '8.6;9.0'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert cuda_toolchain.arch_list({}) == cuda_toolchain.DEFAULT_ARCH_LIST


def test_a_cpu_only_torch_is_refused(monkeypatch):
    monkeypatch.setattr(torch.version, 'cuda', None)
    with pytest.raises(ToolchainError, match='CPU-only build'):
        cuda_toolchain.choose('auto')


def _check(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, 'tools/check_cuda_build.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize('args, message', [
    (['--ops', 'nms,no_such_op'], "mmcv has no CUDA source for 'no_such_op'; it has: "),
    (['--arch', 'sm_90'], "--arch 'sm_90': a compute capability such as 9.0"),
    (['--jobs', '0'], '--jobs 0: at least 1'),
    (['--mmcv-src', '/nonexistent'], '--mmcv-src /nonexistent: no mmcv/ops/csrc/pytorch/cuda'),
])
def test_check_cuda_build_refuses_bad_arguments(args, message, capsys):
    assert check_cuda_build.main(args) == 1
    assert message in capsys.readouterr().err


@pytest.fixture(scope='module')
def registry_toolchain(tmp_path_factory):
    """The toolchain the set-up installs where no nvcc of torch's version is found, installed
    as on a machine without a package registry: from its wheels in a folder (what
    ``CUDA_TOOLCHAIN=1 tools/prepare_gpu_bundle.sh`` carries)."""
    wheels = tmp_path_factory.mktemp('wheels')
    pins = cuda_toolchain.pinned_versions(cuda_toolchain.TOOLCHAIN_PACKAGES)
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d',
                    str(wheels), *[f'{p}=={v}' for p, v in pins.items()]], check=True,
                   capture_output=True, timeout=600)
    dest = tmp_path_factory.mktemp('toolchain') / 'cuda'
    home = cuda_toolchain.choose('registry', str(dest),
                                 ['--no-index', '--find-links', str(wheels)])
    marker = json.loads((Path(home) / cuda_toolchain.MARKER).read_text())
    assert marker['packages'] == pins and marker['release'] == torch.version.cuda
    assert cuda_toolchain.nvcc_release(str(Path(home) / 'bin' / 'nvcc')) == torch.version.cuda
    return home


@pytest.mark.slow
@needs_cuda_torch
def test_mmcv_cuda_sources_compile_with_the_registry_toolchain(registry_toolchain, tmp_path):
    """What every detector and Mask R-CNN run on a GPU (NMS, RoIAlign), compiled for sm_90 by
    the pinned registry toolchain with mmcv's build flags (the GPU check's rehearsal compiles
    RetinaNet's focal loss)."""
    out = tmp_path / 'check.json'
    proc = _check('--arch', '9.0', '--ops', 'nms,roi_align', '--cuda-home', registry_toolchain,
                  '--json', str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    report = json.loads(out.read_text())
    assert report['files'] == ['nms_cuda.cu', 'roi_align_cuda.cu']
    assert report['kernels'] == ['sm_90'] and report['nvcc'] == torch.version.cuda
    assert 'ok: 2 file(s)' in proc.stdout


@pytest.mark.slow
@needs_cuda_torch
def test_a_compile_error_fails_with_the_compilers_message(registry_toolchain, tmp_path):
    import mmcv
    src = tmp_path / 'mmcv' / 'ops' / 'csrc'
    src.parent.mkdir(parents=True)
    os.symlink(Path(mmcv.__file__).parent / 'ops' / 'csrc', tmp_path / 'orig')
    for sub in ('common', 'pytorch/cpu'):
        (src / sub).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(tmp_path / 'orig' / sub, src / sub)
    (src / 'pytorch' / 'cuda').mkdir(parents=True)
    (src / 'pytorch' / 'cuda' / 'nms_cuda.cu').write_text(
        '__global__ void broken() { undeclared_name(); }\n')
    proc = _check('--ops', 'nms', '--arch', '9.0', '--cuda-home', registry_toolchain,
                  '--mmcv-src', str(tmp_path), timeout=300)
    assert proc.returncode == 1
    assert 'FAILED after' in proc.stderr and 'undeclared_name' in proc.stderr, proc.stderr
