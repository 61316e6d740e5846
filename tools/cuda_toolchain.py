"""The CUDA compiler that builds mmcv's CUDA ops against the installed torch.

mmcv 2.1.0 compiles its CUDA kernels with ``nvcc`` of torch's CUDA version
(``torch.version.cuda``). A GPU host with only the NVIDIA driver has none, and one with another
toolkit is refused by torch's extension builder (another major version) or builds for another
runtime. The package registry carries the compiler of every CUDA release as wheels
(``nvidia-cuda-nvcc``, ``-cccl``, ``-crt``, ``nvidia-nvvm``); with the runtime headers and
``libcudart`` that a pip-installed CUDA torch already has under ``site-packages/nvidia/cu13``
they make a CUDA_HOME. This module finds a usable toolkit or assembles that one::

    eval "$(python tools/cuda_toolchain.py ensure)"  # CUDA_HOME, PATH, TORCH_CUDA_ARCH_LIST
    python tools/cuda_toolchain.py archs FILE.so      # the GPU architectures a binary holds

``ensure`` takes, in this order:

1. ``MMTNT_CUDA_TOOLCHAIN=registry``: the registry's toolchain, whatever is installed;
2. the toolkit at ``CUDA_HOME`` / ``CUDA_PATH`` if set (the user's choice): used when its nvcc is
   torch's CUDA version (major and minor), otherwise it stops and says the two ways out;
3. the ``nvcc`` on ``PATH``, then ``/usr/local/cuda`` (where torch itself looks): used when it is
   torch's CUDA version; another version is said and the registry's toolchain is used.

A toolkit of torch's version that lacks what a build against torch needs (the cuSPARSE / cuBLAS /
cuSOLVER headers torch's headers include, ``libcudart.so``), as one made of wheels does, is
completed: its compiler with the pip-installed CUDA libraries' headers and runtime beside it, in
``<dest>-local``.

The registry's toolchain is installed at the versions pinned in ``tools/constraints.txt`` into
``<python prefix>/share/mmtnt/cuda-<version>`` (``--dest``; kept for later builds) and is checked
to be torch's version. ``TORCH_CUDA_ARCH_LIST`` is kept when set, else taken from the visible GPUs'
compute capabilities, else :data:`DEFAULT_ARCH_LIST`.

Only the standard library and torch: it runs before mmcv and mmtnt are installed.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONSTRAINTS = osp.join(ROOT, 'tools', 'constraints.txt')
# the compiler (nvcc, ptxas, fatbinary, nvlink), its device front end (cicc, libdevice), the C++
# runtime headers it includes (crt), CUDA's C++ library headers (thrust, cub, libcu++), and
# cuobjdump, which lists the kernels a binary holds (the registry has no 13.0 release of it; a
# later 13.x reads 13.0 binaries)
TOOLCHAIN_PACKAGES = ('nvidia-cuda-nvcc', 'nvidia-cuda-cccl', 'nvidia-cuda-crt', 'nvidia-nvvm',
                      'nvidia-cuda-cuobjdump')
# Without a visible GPU (a build node, FORCE_CUDA=1): Turing (T4) to Hopper (H100 / H200), and
# PTX of the newest, which newer GPUs (Blackwell) compile when the op is first loaded. Each
# architecture adds about one single-architecture build time; set TORCH_CUDA_ARCH_LIST to yours.
DEFAULT_ARCH_LIST = '7.5;8.0;8.6;8.9;9.0+PTX'
MARKER = 'mmtnt-cuda-toolchain.json'


class ToolchainError(RuntimeError):
    """No usable nvcc: the message says what was found and what to do."""


def say(message: str) -> None:
    print(f'[mmtnt cuda] {message}', file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------------------
# versions


def torch_cuda_version() -> str:
    """torch's CUDA version ('13.0'); a ToolchainError for a CPU-only torch."""
    import torch
    if not torch.version.cuda:
        raise ToolchainError(
            f'torch {torch.__version__} is a CPU-only build: mmcv cannot be built with CUDA ops '
            'against it. Install a CUDA build of torch (tools/constraints.txt pins one).')
    return torch.version.cuda


def nvcc_release(nvcc: str) -> str:
    """'13.0' from ``nvcc --version``; a ToolchainError if it does not run or say."""
    try:
        text = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                              timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolchainError(f'{nvcc} --version failed: {e}') from e
    found = re.search(r'release (\d+\.\d+)', text)
    if not found:
        raise ToolchainError(f'{nvcc} --version does not name a CUDA release: {text[-300:]!r}')
    return found.group(1)


def pinned_versions(packages: Sequence[str], constraints: str = CONSTRAINTS) -> Dict[str, str]:
    """The ``name==version`` pins of ``packages`` in the constraints file."""
    pins = {}
    with open(constraints) as f:
        for line in f:
            name, sep, version = line.split('#')[0].strip().partition('==')
            if sep and name.lower() in packages:
                pins[name.lower()] = version.strip()
    missing = [p for p in packages if p not in pins]
    if missing:
        raise ToolchainError(f'{constraints} pins no version of {", ".join(missing)}')
    return pins


# -------------------------------------------------------------------------------------------
# a toolkit already on the machine


# what torch's CUDA headers include (ATen/cuda/CUDAContextLight.h): a toolkit without them
# cannot compile mmcv's kernels against torch
TORCH_NEEDS_HEADERS = ('cuda_runtime_api.h', 'cusparse.h', 'cublas_v2.h', 'cublasLt.h',
                       'cusolverDn.h')


def nvcc_home(nvcc: str) -> str:
    """The toolkit an nvcc belongs to, as nvcc itself reports it (``_HERE_`` of ``--dryrun``:
    right for wrapper scripts and links), else the folder above its ``bin``."""
    try:
        text = subprocess.run([nvcc, '--dryrun', '-E', '-x', 'cu', os.devnull],
                              capture_output=True, text=True, timeout=60).stderr
        here = re.search(r'^#\$ _HERE_=(.+)$', text, re.M)
        if here:
            return osp.dirname(here.group(1).strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return osp.dirname(osp.dirname(osp.realpath(nvcc)))


def describe(home: str, how: str, explicit: bool) -> dict:
    """A toolkit: its nvcc's release (None without a working nvcc) and what a build against
    torch needs that it lacks (headers torch's headers include; ``libcudart.so`` for
    ``-lcudart``)."""
    nvcc = osp.join(home, 'bin', 'nvcc')
    try:
        release = nvcc_release(nvcc) if osp.exists(nvcc) else None
    except ToolchainError:
        release = None
    missing = [h for h in TORCH_NEEDS_HEADERS if not osp.exists(osp.join(home, 'include', h))]
    if not any(osp.exists(osp.join(home, d, 'libcudart.so')) for d in ('lib64', 'lib')):
        missing.append('libcudart.so')
    return dict(home=home, how=how, explicit=explicit, release=release, missing=missing)


def user_toolkits(env: Optional[Dict[str, str]] = None) -> List[dict]:
    """The toolkit torch's extension builder would take: CUDA_HOME / CUDA_PATH (``explicit``),
    else the nvcc on PATH, else /usr/local/cuda."""
    env = os.environ if env is None else env
    for var in ('CUDA_HOME', 'CUDA_PATH'):
        if env.get(var):
            return [describe(env[var], var, True)]  # torch looks no further
    on_path = shutil.which('nvcc', path=env.get('PATH', ''))
    if on_path:
        return [describe(nvcc_home(on_path), f'the nvcc on PATH ({on_path})', False)]
    if osp.isdir('/usr/local/cuda'):
        return [describe('/usr/local/cuda', '/usr/local/cuda', False)]
    return []


# -------------------------------------------------------------------------------------------
# the registry's toolchain


def toolchains_dir() -> str:
    """Where the set-up keeps the toolchains it lays out: in the Python environment, whose CUDA
    libraries they link to."""
    return osp.join(sys.prefix, 'share', 'mmtnt')


def default_dest(release: str) -> str:
    return osp.join(toolchains_dir(), f'cuda-{release}')


def runtime_roots(major: str) -> List[str]:
    """The ``nvidia/cu<major>`` folders of the pip-installed CUDA libraries (torch's runtime,
    cuBLAS, cuSPARSE, ... headers and libraries) on ``sys.path``."""
    roots = []
    for entry in sys.path:
        root = osp.join(entry or '.', 'nvidia', f'cu{major}')
        if osp.isfile(osp.join(root, 'include', 'cuda_runtime.h')) and root not in roots:
            roots.append(osp.realpath(root))
    return roots


def _link_entries(src_dir: str, dst_dir: str) -> None:
    """Symlink each entry of ``src_dir`` into ``dst_dir`` unless the name is taken."""
    for name in sorted(os.listdir(src_dir)):
        target = osp.join(dst_dir, name)
        if not osp.lexists(target):
            os.symlink(osp.join(src_dir, name), target)


def assemble(dest: str, toolchain_root: str, roots: Sequence[str], link: bool = False) -> None:
    """Lay out a CUDA_HOME at ``dest`` as a CUDA toolkit is laid out, from a toolchain (nvcc and
    its headers) and the pip-installed CUDA libraries' ``roots``: the runtime's headers and
    libraries linked in (``lib64/libcudart.so`` for ``-lcudart``). The toolchain's folders are
    moved in (unpacked wheels), or linked (``link``: completing a toolkit on the machine; nvcc
    finds its own headers from its real path either way)."""
    for name in ('bin', 'nvvm'):
        src = osp.join(toolchain_root, name)
        if not osp.isdir(src):
            raise ToolchainError(f'{toolchain_root} has no {name}/ folder')
        (os.symlink if link else shutil.move)(src, osp.join(dest, name))
    include = osp.join(dest, 'include')
    if link:
        os.makedirs(include)
        _link_entries(osp.join(toolchain_root, 'include'), include)
    else:
        shutil.move(osp.join(toolchain_root, 'include'), include)
    lib = osp.join(dest, 'lib64')
    os.makedirs(lib)
    if not link and osp.isdir(osp.join(toolchain_root, 'lib')):  # libnvvm: moved in, and
        shutil.move(osp.join(toolchain_root, 'lib'), osp.join(dest, 'lib'))  # linked relatively
        for name in sorted(os.listdir(osp.join(dest, 'lib'))):
            os.symlink(osp.join('..', 'lib', name), osp.join(lib, name))
    folders = [osp.join(toolchain_root, d) for d in ('lib64', 'lib')] if link else []
    for folder in folders + [osp.join(root, 'lib') for root in roots]:
        if osp.isdir(folder):
            _link_entries(folder, lib)
    for root in roots:
        _link_entries(osp.join(root, 'include'), include)
    cudart = sorted(glob.glob(osp.join(lib, 'libcudart.so.*')))
    if not cudart:
        raise ToolchainError(
            f'no libcudart.so.* in {", ".join(roots) or "any nvidia/cu* folder on sys.path"}: '
            'the CUDA runtime that a pip-installed CUDA torch brings (nvidia-cuda-runtime)')
    if not osp.lexists(osp.join(lib, 'libcudart.so')):
        os.symlink(osp.basename(cudart[0]), osp.join(lib, 'libcudart.so'))
    target = osp.join(dest, 'targets', 'x86_64-linux')
    os.makedirs(target)
    os.symlink(osp.join('..', '..', 'include'), osp.join(target, 'include'))
    os.symlink(osp.join('..', '..', 'lib64'), osp.join(target, 'lib'))


def _lay_out(dest: str, marker: dict, fill) -> str:
    """``dest`` as ``fill(staging, home)`` makes it, built beside it and renamed into place (an
    interrupted run leaves no half toolkit); reused when its marker says the same."""
    path = osp.join(dest, MARKER)
    if osp.exists(path):
        with open(path) as f:
            have = json.load(f)
        if all(have.get(k) == v for k, v in marker.items()):
            return dest
    elif osp.lexists(dest):
        raise ToolchainError(f'{dest} exists and is not a toolchain mmtnt assembled: remove it '
                             'or pass another --dest')
    parent = osp.dirname(osp.abspath(dest))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix='.cuda-', dir=parent)  # same file system: moves
    except OSError as e:
        raise ToolchainError(f'cannot write the CUDA toolchain under {parent} ({e}): pass '
                             '--dest with a writable folder') from e
    try:
        home = osp.join(staging, 'home')
        os.makedirs(home)
        fill(staging, home)
        with open(osp.join(home, MARKER), 'w') as f:
            json.dump(marker, f, indent=1)
        if osp.lexists(dest):  # other pins or another toolkit: the old one set aside, then gone
            os.rename(dest, osp.join(staging, 'old'))
        os.rename(home, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _roots_or_error(release: str, instead: str) -> List[str]:
    roots = runtime_roots(release.split('.')[0])
    if not roots:
        raise ToolchainError(
            f'no nvidia/cu{release.split(".")[0]}/include/cuda_runtime.h on sys.path: torch is '
            f'not a pip-installed CUDA {release} build. {instead}')
    return roots


def install_registry_toolchain(dest: str, release: str, pip_args: Sequence[str] = ()) -> str:
    """Install the pinned toolchain wheels and assemble a CUDA_HOME at ``dest`` (reused when
    it is there and complete). Returns ``dest``."""
    pins = pinned_versions(TOOLCHAIN_PACKAGES)
    roots = _roots_or_error(release, f'Point CUDA_HOME at a complete CUDA {release} toolkit.')

    def fill(staging: str, home: str) -> None:
        wheels = osp.join(staging, 'wheels')
        say(f'installing the CUDA {release} toolchain from the package registry: '
            + ', '.join(f'{p}=={v}' for p, v in pins.items()))
        proc = subprocess.run(
            [sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
             '--no-deps', '--no-compile', '--target', wheels, *pip_args,
             *[f'{p}=={v}' for p, v in pins.items()]], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ToolchainError(f'pip could not install the toolchain:\n{proc.stderr[-3000:]}')
        assemble(home, osp.join(wheels, 'nvidia', f'cu{release.split(".")[0]}'), roots)
        got = nvcc_release(osp.join(home, 'bin', 'nvcc'))
        if got != release:
            raise ToolchainError(
                f'the pinned toolchain is CUDA {got}, torch is built for CUDA {release}: '
                f'tools/constraints.txt must pin the {release} releases of '
                + ', '.join(TOOLCHAIN_PACKAGES))

    return _lay_out(dest, dict(release=release, packages=pins, runtime=roots), fill)


def complete_toolkit(toolkit: dict, dest: str) -> str:
    """A toolkit of torch's version without the headers / libcudart.so a build against torch
    needs (e.g. nvcc from wheels): its compiler with the pip-installed CUDA libraries' headers
    and runtime beside it, at ``dest``."""
    roots = _roots_or_error(toolkit['release'], '')
    return _lay_out(dest, dict(release=toolkit['release'], completes=toolkit['home'],
                               runtime=roots),
                    lambda staging, home: assemble(home, toolkit['home'], roots, link=True))


# -------------------------------------------------------------------------------------------
# choosing


def choose(mode: str = 'auto', dest: Optional[str] = None, pip_args: Sequence[str] = (),
           env: Optional[Dict[str, str]] = None) -> str:
    """The CUDA_HOME to build with (see the module's docstring for the order)."""
    release = torch_cuda_version()
    if mode not in ('auto', 'registry'):
        raise ToolchainError(f'MMTNT_CUDA_TOOLCHAIN is {mode!r}: use auto or registry')
    if mode == 'auto':
        for toolkit in user_toolkits(env):
            if not toolkit['release']:
                problem = f'no working nvcc in {toolkit["home"]}/bin'
            elif toolkit['release'] != release:
                # torch itself only warns about another minor version, but that nvcc's kernels
                # and PTX may need a newer driver than torch's CUDA does
                problem = f'CUDA {toolkit["release"]}'
            else:
                if not toolkit['missing']:
                    say(f'using the CUDA {toolkit["release"]} toolkit at {toolkit["home"]} '
                        f'({toolkit["how"]})')
                    return toolkit['home']
                if runtime_roots(release.split('.')[0]):
                    home = complete_toolkit(toolkit, (dest or default_dest(release)) + '-local')
                    say(f'{toolkit["how"]}: the CUDA {toolkit["release"]} toolkit at '
                        f'{toolkit["home"]} lacks {", ".join(toolkit["missing"])}: using its '
                        f'compiler with the CUDA libraries torch installed, at {home}')
                    return home
                problem = f'CUDA {toolkit["release"]} without {", ".join(toolkit["missing"])}'
            if toolkit['explicit']:
                raise ToolchainError(
                    f'{toolkit["how"]}={toolkit["home"]} has {problem}; torch '
                    f'{_torch_version()} is built for CUDA {release}, and mmcv\'s CUDA ops must '
                    f'be compiled by nvcc of that version. Either point {toolkit["how"]} at a '
                    f'complete CUDA {release} toolkit, or unset CUDA_HOME and CUDA_PATH so that '
                    f'the set-up installs CUDA {release}\'s compiler from the package registry.')
            say(f'{toolkit["how"]}: {toolkit["home"]} has {problem}; torch needs CUDA '
                f'{release}: not used, the registry\'s toolchain instead')
    dest = dest or default_dest(release)
    home = install_registry_toolchain(dest, release, pip_args)
    say(f'using the registry\'s CUDA {release} toolchain at {home}')
    return home


def _torch_version() -> str:
    import torch
    return torch.__version__


def arch_list(env: Optional[Dict[str, str]] = None) -> str:
    """TORCH_CUDA_ARCH_LIST: as set, else the visible GPUs' compute capabilities, else
    DEFAULT_ARCH_LIST."""
    env = os.environ if env is None else env
    if env.get('TORCH_CUDA_ARCH_LIST'):
        return env['TORCH_CUDA_ARCH_LIST']
    import torch
    if torch.cuda.is_available():
        caps = sorted({torch.cuda.get_device_capability(i)
                       for i in range(torch.cuda.device_count())})
        return ';'.join(f'{major}.{minor}' for major, minor in caps)
    return DEFAULT_ARCH_LIST


def find_cuobjdump(cuda_home: Optional[str]) -> Optional[str]:
    """cuobjdump of the toolkit, else on PATH, else of the registry's toolchain the set-up
    installs (``<prefix>/share/mmtnt/cuda-*``)."""
    candidates = [osp.join(cuda_home, 'bin', 'cuobjdump')] if cuda_home else []
    candidates += [shutil.which('cuobjdump') or '']
    candidates += sorted(glob.glob(osp.join(toolchains_dir(), 'cuda-*', 'bin', 'cuobjdump')))
    return next((c for c in candidates if c and osp.exists(c)), None)


def kernel_archs(binary: str, cuda_home: Optional[str]) -> Optional[List[str]]:
    """The GPU architectures of the kernels compiled into ``binary`` ('sm_90', ...), read with
    ``cuobjdump --list-elf`` (:func:`find_cuobjdump`); None where there is none."""
    tool = find_cuobjdump(cuda_home)
    if not tool:
        return None
    proc = subprocess.run([tool, '--list-elf', binary], capture_output=True, text=True)
    if proc.returncode != 0 and 'does not contain device code' not in proc.stderr:
        raise ToolchainError(f'cuobjdump --list-elf {binary}: {proc.stderr.strip()[-500:]}')
    return sorted(set(re.findall(r'\.(sm_\d+[a-z]?)\.cubin', proc.stdout)))


def check_mmcv(cuda: bool) -> int:
    """The set-up's last check: mmcv's compiled ops run; with ``cuda``, mmcv has CUDA ops, and
    where a GPU is visible ``nms`` and ``RoIAlign`` on it agree with the CPU (else the kernels'
    architectures are listed). Returns the exit code."""
    import mmcv
    import torch
    from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
    torch.manual_seed(0)
    xy = torch.rand(200, 2) * 100
    boxes = torch.cat([xy, xy + 10 + torch.rand(200, 2) * 40], 1)
    scores = torch.rand(200)
    features = torch.randn(2, 8, 32, 40)
    rois = torch.tensor([[0, 1.5, 2.0, 20.0, 30.5], [1, 4.0, 3.0, 38.0, 25.0]])
    roi_align = RoIAlign((7, 7), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    kept_cpu = nms(boxes, scores, 0.5)[1]
    pooled_cpu = roi_align(features, rois)
    compiled = get_compiling_cuda_version()
    has_cuda = compiled not in ('not available', '')
    say(f'mmcv {mmcv.__version__}: compiled ops run on the CPU (nms kept {len(kept_cpu)} of 200); '
        f'CUDA ops: {"CUDA " + compiled if has_cuda else "none"}')
    if not cuda:
        return 0
    if not has_cuda:
        say('error: mmcv was built without CUDA ops (nms_impl ... not implemented for CUDA on '
            'a GPU): rebuild it with FORCE_CUDA=1 bash tools/setup_env.sh')
        return 1
    if torch.cuda.is_available():
        device = torch.device('cuda', 0)
        try:
            kept = nms(boxes.to(device), scores.to(device), 0.5)[1].cpu()
            pooled = roi_align(features.to(device), rois.to(device)).cpu()
        except RuntimeError as e:  # e.g. no kernel image for this GPU's architecture
            say(f'error: mmcv\'s CUDA ops fail on {torch.cuda.get_device_name(0)} '
                f'(compute capability {".".join(map(str, torch.cuda.get_device_capability(0)))}):'
                f' {str(e).strip().splitlines()[0]}. Built for other GPUs? '
                f'`python -m pip uninstall -y mmcv`, then run tools/setup_env.sh again here '
                '(or with TORCH_CUDA_ARCH_LIST naming this GPU)')
            return 1
        diff = (pooled - pooled_cpu).abs().max().item()
        if not torch.equal(kept, kept_cpu) or diff > 1e-4:
            say(f'error: on {torch.cuda.get_device_name(0)} nms kept {kept.tolist()[:10]}..., '
                f'the CPU {kept_cpu.tolist()[:10]}...; RoIAlign differs by {diff:.2e}')
            return 1
        say(f'mmcv.ops.nms and RoIAlign on {torch.cuda.get_device_name(0)}: the CPU\'s results '
            f'(RoIAlign within {diff:.1e})')
        return 0
    ext = glob.glob(osp.join(osp.dirname(mmcv.__file__), '_ext*.so'))
    archs = kernel_archs(ext[0], os.environ.get('CUDA_HOME')) if ext else []
    if archs is None:
        say('no GPU visible; the kernels\' architectures not listed (no cuobjdump)')
    else:
        say(f'no GPU visible: mmcv._ext holds CUDA kernels for {", ".join(archs) or "nothing"} '
            f'(cuobjdump --list-elf {ext[0] if ext else "mmcv/_ext*.so"})')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    ensure = sub.add_parser('ensure', help='find or assemble a CUDA_HOME; print shell exports')
    ensure.add_argument('--toolchain', default=os.environ.get('MMTNT_CUDA_TOOLCHAIN', 'auto'),
                        help='auto (default; $MMTNT_CUDA_TOOLCHAIN) or registry')
    ensure.add_argument('--dest', help='where the registry\'s toolchain goes '
                        '(default <prefix>/share/mmtnt/cuda-<version>)')
    ensure.add_argument('--pip-args', default='',
                        help='extra pip arguments, e.g. "--no-index --find-links DIR"')
    archs = sub.add_parser('archs', help='the GPU architectures a binary holds')
    archs.add_argument('binary')
    archs.add_argument('--cuda-home', default=os.environ.get('CUDA_HOME'))
    check = sub.add_parser('check-mmcv', help='mmcv\'s compiled ops run (on a GPU if visible)')
    check.add_argument('--cuda', action='store_true', help='CUDA ops are required')
    args = parser.parse_args(argv)
    try:
        if args.command == 'archs':
            archs = kernel_archs(args.binary, args.cuda_home)
            if archs is None:
                raise ToolchainError('no cuobjdump in --cuda-home/bin, on PATH or in the '
                                     'registry toolchain the set-up installs')
            print(' '.join(archs))
            return 0
        if args.command == 'check-mmcv':
            return check_mmcv(args.cuda)
        home = choose(args.toolchain, args.dest, shlex.split(args.pip_args))
        archs = arch_list()
    except ToolchainError as e:
        say(f'error: {e}')
        return 1
    say(f'TORCH_CUDA_ARCH_LIST={archs}')
    print(f'export CUDA_HOME={shlex.quote(home)}')
    print(f'export PATH={shlex.quote(osp.join(home, "bin"))}:"$PATH"')
    print(f'export TORCH_CUDA_ARCH_LIST={shlex.quote(archs)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
