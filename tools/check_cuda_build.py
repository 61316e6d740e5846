"""Compile mmcv's CUDA sources for some ops, as a GPU host's set-up would, on any machine.

No GPU is needed: the CUDA toolchain the set-up takes (``tools/cuda_toolchain.py``: a toolkit of
torch's CUDA version on the machine, else the registry's, at the versions pinned in
``tools/constraints.txt``) compiles the ops' CUDA files against the installed torch with torch's
own extension builder and the flags mmcv's setup.py gives them, for the architectures asked
for, and the result's kernels are listed with ``cuobjdump``. A change of torch, mmcv or the
toolchain pins that would break ``FORCE_CUDA=1 bash tools/setup_env.sh`` on a GPU host fails
here first::

    python tools/check_cuda_build.py                          # nms, roi_align, focal_loss; sm_90
    python tools/check_cuda_build.py --arch 8.0 8.6 --ops nms,deform_conv --jobs 4
    python tools/check_cuda_build.py --ops all                # every CUDA file (20+ min, 2 cores)

Exits 0 when every file compiled and holds the asked architectures' kernels (said as not
verified where no cuobjdump is found); otherwise 1, with the compiler's error lines. ``--json
FILE`` writes the files, seconds and architectures.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import cuda_toolchain  # noqa: E402

sys.path.pop(0)

# what the shipped configs run on a GPU: NMS (every detector), RoIAlign (Mask / Faster R-CNN),
# the sigmoid focal loss (RetinaNet)
DEFAULT_OPS = 'nms,roi_align,focal_loss'


def mmcv_sources(explicit: Optional[str] = None) -> str:
    """mmcv's ``ops/csrc`` folder: ``--mmcv-src`` (an unpacked sdist or a checkout), else the
    installed mmcv's (its wheel carries the sources)."""
    if explicit:
        for candidate in (osp.join(explicit, 'mmcv', 'ops', 'csrc'),
                          osp.join(explicit, 'ops', 'csrc'), explicit):
            if osp.isdir(osp.join(candidate, 'pytorch', 'cuda')):
                return candidate
        raise ValueError(f'--mmcv-src {explicit}: no mmcv/ops/csrc/pytorch/cuda under it')
    import importlib.util
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        raise ValueError('mmcv is not installed: install it (bash tools/setup_env.sh) or pass '
                         '--mmcv-src with an unpacked mmcv sdist')
    csrc = osp.join(list(spec.submodule_search_locations)[0], 'ops', 'csrc')
    if not osp.isdir(osp.join(csrc, 'pytorch', 'cuda')):
        raise ValueError(f'the installed mmcv has no CUDA sources ({csrc}): pass --mmcv-src')
    return csrc


def op_files(csrc: str, ops: str) -> List[str]:
    """The CUDA files of the named ops (``nms`` -> ``pytorch/cuda/nms_cuda.cu``)."""
    cuda = osp.join(csrc, 'pytorch', 'cuda')
    available = sorted(glob.glob(osp.join(cuda, '*.cu')))
    if ops == 'all':
        return available
    names = {osp.basename(f)[:-3]: f for f in available}
    files = []
    for op in (o.strip() for o in ops.split(',') if o.strip()):
        found = names.get(f'{op}_cuda') or names.get(op)
        if found is None:
            known = sorted(n[:-5] if n.endswith('_cuda') else n for n in names)
            raise ValueError(f'--ops: mmcv has no CUDA source for {op!r}; it has: '
                             + ', '.join(known))
        files.append(found)
    if not files:
        raise ValueError('--ops names no op')
    return files


def arch_flags(archs: List[str]) -> str:
    for arch in archs:
        if not re.fullmatch(r'\d+\.\d+[af]?(\+PTX)?', arch):
            raise ValueError(f'--arch {arch!r}: a compute capability such as 9.0, 8.6 or 9.0+PTX')
    return ';'.join(archs)


def compile_sources(csrc: str, files: List[str], build: str, jobs: int) -> dict:
    """Compile (and link, with the rest of mmcv left out) with torch's BuildExtension as mmcv
    2.1.0's setup.py does: its include folders, ``MMCV_WITH_CUDA``, C++17 for the host compiler
    and nvcc, ``MMCV_CUDA_ARGS``; CUDA_HOME, PATH and TORCH_CUDA_ARCH_LIST from the environment.
    Runs in a child process: torch reads CUDA_HOME when its extension module is first
    imported."""
    nvcc_flags = ([os.environ['MMCV_CUDA_ARGS']] if os.environ.get('MMCV_CUDA_ARGS') else []) + \
        ['-std=c++17']
    script = f'''
import sys
from setuptools import Distribution
from torch.utils.cpp_extension import BuildExtension, CUDAExtension
csrc = {csrc!r}
ext = CUDAExtension(
    'mmtnt_cuda_check', sources={files!r},
    include_dirs=[csrc + '/pytorch', csrc + '/common', csrc + '/common/cuda'],
    define_macros=[('MMCV_WITH_CUDA', None)],
    extra_compile_args={{'cxx': ['-std=c++17'], 'nvcc': {nvcc_flags!r}}})
dist = Distribution(dict(name='mmtnt_cuda_check', ext_modules=[ext],
                         cmdclass={{'build_ext': BuildExtension}}))
cmd = dist.get_command_obj('build_ext')
cmd.build_temp = {osp.join(build, 'temp')!r}
cmd.build_lib = {osp.join(build, 'lib')!r}
dist.run_command('build_ext')
'''
    env = dict(os.environ, MAX_JOBS=str(jobs))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', script], cwd=build, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    built = glob.glob(osp.join(build, 'lib', 'mmtnt_cuda_check*.so'))
    return dict(returncode=proc.returncode, seconds=round(seconds, 1),
                output=proc.stdout + proc.stderr, library=built[0] if built else None)


def error_lines(output: str, limit: int = 60) -> str:
    """The compiler's own complaints, else the output's tail."""
    lines = [line for line in output.splitlines()
             if re.search(r'\berror\b|Error|FAILED|fatal', line)]
    return '\n'.join(lines[:limit]) if lines else '\n'.join(output.splitlines()[-limit:])


def wanted_sms(archs: List[str]) -> List[str]:
    return sorted({'sm_' + a.split('+')[0].replace('.', '') for a in archs})


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', nargs='+',
                        help='compute capabilities (default: $TORCH_CUDA_ARCH_LIST, else the '
                        'visible GPUs\', else 9.0)')
    parser.add_argument('--ops', default=DEFAULT_OPS,
                        help=f'comma-separated mmcv ops, or all (default {DEFAULT_OPS})')
    parser.add_argument('--jobs', type=int, default=os.cpu_count() or 1,
                        help='compile jobs (default: every core)')
    parser.add_argument('--mmcv-src', help='an unpacked mmcv sdist (default: the installed '
                        'mmcv\'s sources)')
    parser.add_argument('--cuda-home', help='compile with this toolkit instead of choosing one '
                        'as tools/cuda_toolchain.py does')
    parser.add_argument('--toolchain-dest', help='where the registry\'s toolchain is installed '
                        '(default: as tools/cuda_toolchain.py)')
    parser.add_argument('--json', help='write the result here')
    args = parser.parse_args(argv)
    try:
        csrc = mmcv_sources(args.mmcv_src)
        files = op_files(csrc, args.ops)
        if args.arch:
            archs = args.arch
        else:
            chosen = cuda_toolchain.arch_list()
            archs = ['9.0'] if chosen == cuda_toolchain.DEFAULT_ARCH_LIST else \
                re.split(r'[;\s]+', chosen.strip())
        arch_list = arch_flags(archs)
        if args.jobs < 1:
            raise ValueError(f'--jobs {args.jobs}: at least 1')
        home = args.cuda_home or cuda_toolchain.choose(
            os.environ.get('MMTNT_CUDA_TOOLCHAIN', 'auto'), args.toolchain_dest)
    except (ValueError, cuda_toolchain.ToolchainError) as e:
        print(f'check_cuda_build: {e}', file=sys.stderr)
        return 1
    os.environ.update(CUDA_HOME=home, TORCH_CUDA_ARCH_LIST=arch_list,
                      PATH=osp.join(home, 'bin') + os.pathsep + os.environ.get('PATH', ''))
    build = tempfile.mkdtemp(prefix='mmtnt_cuda_check_')
    try:
        release = cuda_toolchain.nvcc_release(osp.join(home, 'bin', 'nvcc'))
        print(f'compiling {len(files)} CUDA file(s) of mmcv for {arch_list} with nvcc {release} '
              f'({home}), {args.jobs} job(s): ' + ', '.join(osp.basename(f) for f in files),
              flush=True)
        result = compile_sources(csrc, files, build, args.jobs)
        archs_found = []
        if result['returncode'] == 0 and result['library']:
            archs_found = cuda_toolchain.kernel_archs(result['library'], home)
    except cuda_toolchain.ToolchainError as e:
        print(f'check_cuda_build: {e}', file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(build, ignore_errors=True)
    # None: no cuobjdump to list them with (said, not taken as a pass of that check)
    missing = [] if archs_found is None else \
        [sm for sm in wanted_sms(archs) if sm not in archs_found]
    ok = result['returncode'] == 0 and not missing
    report = dict(ok=ok, files=[osp.basename(f) for f in files], arch_list=arch_list,
                  cuda_home=home, nvcc=release, jobs=args.jobs, seconds=result['seconds'],
                  kernels=archs_found, missing_kernels=missing)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    if result['returncode'] != 0:
        print(f'FAILED after {result["seconds"]} s: the compiler said\n'
              + error_lines(result['output']), file=sys.stderr)
        return 1
    if missing:
        print(f'FAILED: compiled, but the library holds kernels for {archs_found or "nothing"}, '
              f'not {missing}', file=sys.stderr)
        return 1
    print(f'ok: {len(files)} file(s) compiled in {result["seconds"]} s; '
          + (f'kernels for {", ".join(archs_found)}' if archs_found is not None else
             'the kernels\' architectures NOT verified: no cuobjdump in the toolkit, on PATH '
             'or in the registry toolchain'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
