"""Everything a lent GPU must measure, in one run from a bare machine, in about 10 minutes.

On the GPU machine (Python 3.12 with torch; no package registry), with the folder that
``tools/prepare_gpu_bundle.sh`` filled here carried along::

    python tools/gpu_check.py --wheels .whl --out $OUT

Rehearsal on a CPU (the test suite runs it; about two minutes on 2 cores)::

    python tools/gpu_check.py --device cpu --quick --out /tmp/gpu_check

Parts, in order, each in its own process with its own time limit (``--limits part=seconds``),
skipped - not fatal - when it fails, runs out of time, or the overall ``--budget`` has no time
left for it; the report says what ran:

- ``install``: the carried wheels into a private folder (``--site``), no index, no deps;
- ``toolchain``: the CUDA compiler of torch's CUDA version: the machine's own if it is that
  version, else assembled from the carried toolchain wheels (``tools/cuda_toolchain.py``);
- ``mmcv_ops``: mmcv from its sdist with its CUDA ops for this GPU's architecture, every core
  compiling, then ``nms`` and ``RoIAlign`` on the GPU against the CPU; in a CPU rehearsal, one
  CUDA file (``focal_loss_cuda.cu``, sm_90) compiled as that build compiles it;
- ``mmcv_lite``: mmcv without compiled ops (what the backbones need), where ``mmcv_ops`` did not
  build mmcv;
- ``parity``: TNTBackbone and PyramidTNT on the device against the CPU's float32 result, same
  weights;
- ``toy_train`` / ``toy_train_amp``: the toy RetinaNet trained through ``tools/train.py`` (with
  ``--amp``: float16 on CUDA, bfloat16 on a CPU with native bfloat16, skipped on a CPU without)
  and evaluated (COCO bbox mAP; seconds per iteration, the median of the logged ones), if mmcv's
  ops are importable;
- ``speed_224`` / ``speed_800``: TNT-S forward and forward + backward under autocast (float16 on
  CUDA, bfloat16 on a CPU with native bfloat16 instructions, none - float32 - on a CPU without:
  there bfloat16 runs emulated, hundreds of times slower) at 224 (batch 64) and 800x1344 (batch 2)
  against timm's TNT-S (eager and compiled) and DeiT-S: time and peak memory, models interleaved,
  medians (``tools/benchmark.py``'s measurement).

Writes ``report.json``, ``report.md`` and ``log.txt`` (every part's output; each part's header line
names its process id) into ``--out``. The part processes, and the processes they start, die with
this one (Linux: ``PR_SET_PDEATHSIG``); on SIGTERM / SIGINT it kills the running part, writes the
report of what ran and exits with 128 + the signal's number.
"""
import argparse
import ctypes
import glob
import importlib
import importlib.util
import json
import os
import os.path as osp
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PARTS = ['install', 'toolchain', 'mmcv_ops', 'mmcv_lite', 'parity', 'toy_train', 'toy_train_amp',
         'speed_224', 'speed_800']
# mmcv_ops: mmcv's full CUDA build is ~140 CPU-minutes on a Zen 3 core (docs/dev/gpu_check.md):
# 6-9 minutes on 16 cores
LIMITS = dict(install=60, toolchain=60, mmcv_ops=480, mmcv_lite=90, parity=60, toy_train=90,
              toy_train_amp=90, speed_224=180, speed_800=180)
TOY_ITERS = 300  # per toy training on a GPU (--quick: 2, training only)
# The targets of the GPU work, as time / memory ratios in one run
TARGETS = [
    ('224, AMP fwd+bwd: mmtnt >= 2x timm TNT-S eager (time ratio <= 0.5)', 224, 'timm_tnt',
     'seconds', 0.5),
    ('224, AMP fwd+bwd: mmtnt >= 0.6x DeiT-S (time ratio <= 1 / 0.6)', 224, 'timm_deit', 'seconds',
     1 / 0.6),
    ('800x1344, AMP fwd+bwd: mmtnt time <= 0.5x timm TNT-S', 800, 'timm_tnt', 'seconds', 0.5),
    ('800x1344, AMP fwd+bwd: mmtnt memory <= 0.5x timm TNT-S', 800, 'timm_tnt', 'memory', 0.5),
]


# -------------------------------------------------------------------------------------------
# the processes: every one dies with the process that started it


def die_with_parent() -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` for ``subprocess``: the new process is SIGKILLed when the process that
    starts it (this one) dies, however it dies (Linux's ``PR_SET_PDEATHSIG``; None elsewhere)."""
    if not sys.platform.startswith('linux'):
        return None
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _run(cmd: List[str], **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` for the parts: the process dies with the part."""
    return subprocess.run(cmd, preexec_fn=die_with_parent(), **kwargs)


_CPU_FEATURES = []


def cpu_features():
    """``mmtnt/utils/cpu_features.py``, loaded by its path (this driver runs before mmtnt is
    installed; the module needs only the standard library)."""
    if not _CPU_FEATURES:
        spec = importlib.util.spec_from_file_location(
            'mmtnt_cpu_features', osp.join(ROOT, 'mmtnt', 'utils', 'cpu_features.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _CPU_FEATURES.append(module)
    return _CPU_FEATURES[0]


def autocast_dtype(device: str) -> Optional[str]:
    """What the speed parts and toy_train_amp autocast to: float16 on CUDA, bfloat16 on a CPU with
    native bfloat16 instructions, None (float32, no autocast) on a CPU without."""
    if device.startswith('cuda'):
        return 'float16'
    return 'bfloat16' if cpu_features().cpu_bf16_support()[0] else None


# -------------------------------------------------------------------------------------------
# the parts (each runs in a fresh process: python tools/gpu_check.py --part NAME ...)


def _pip(*args) -> List[str]:
    return [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-index', '--no-deps',
            '--no-compile', '--disable-pip-version-check', *args]


def part_install(args) -> dict:
    """The carried wheels that this interpreter can install (all of them on the GPU machine's
    Python 3.12; a rehearsal on another Python leaves out the compiled ones and says so)."""
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename
    if not args.wheels:
        raise SkipPart('no --wheels folder given')
    wheels = sorted(glob.glob(osp.join(args.wheels, '*.whl')))
    if not wheels:
        raise SkipPart(f'no wheels in {args.wheels}')
    supported = set(sys_tags())
    fits = [w for w in wheels if parse_wheel_filename(osp.basename(w))[3] & supported]
    _run(_pip('--upgrade', '--target', args.site, *fits), check=True)
    return dict(installed=[osp.basename(w) for w in fits], site=args.site,
                not_for_this_python=[osp.basename(w) for w in wheels if w not in fits])


def _mmcv_sdist(args) -> str:
    found = sorted(glob.glob(osp.join(args.wheels or '', 'mmcv-*.tar.gz')))
    if not found:
        raise SkipPart('no mmcv sdist in the --wheels folder')
    return found[-1]


def _build_mmcv(args, with_ops: bool, env: Optional[dict] = None) -> dict:
    sdist = _mmcv_sdist(args)
    env = dict(env or os.environ, MMCV_WITH_OPS='1' if with_ops else '0',
               MAX_JOBS=str(os.cpu_count() or 4))
    if with_ops:
        env['FORCE_CUDA'] = '1'
    start = time.perf_counter()
    _run(_pip('--no-build-isolation', '--upgrade', '--target', args.site, sdist), check=True,
         env=env)
    return dict(sdist=osp.basename(sdist), with_ops=with_ops, jobs=int(env['MAX_JOBS']),
                build_seconds=round(time.perf_counter() - start, 1))


def _tools_module(name: str):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _part_result(args, part: str) -> Optional[dict]:
    """An earlier part's result in this run (None unless it ran and was ok)."""
    path = osp.join(args.scratch, f'{part}.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        found = json.load(f)
    return found['result'] if found['status'] == 'ok' else None


def part_toolchain(args) -> dict:
    """nvcc of torch's CUDA version: the machine's, or assembled from the carried wheels (from
    the package registry where there is no --wheels folder: a CPU rehearsal)."""
    toolchain = _tools_module('cuda_toolchain')
    import torch
    if not torch.version.cuda:
        raise SkipPart(f'torch {torch.__version__} is a CPU-only build')
    pip_args = ['--no-index', '--find-links', args.wheels] if args.wheels else []
    try:
        home = toolchain.choose(os.environ.get('MMTNT_CUDA_TOOLCHAIN', 'auto'),
                                osp.join(args.site, 'cuda'), pip_args)
    except toolchain.ToolchainError as e:
        raise RuntimeError(str(e)) from e
    marker = {}
    if osp.exists(osp.join(home, toolchain.MARKER)):
        with open(osp.join(home, toolchain.MARKER)) as f:
            marker = json.load(f)
    origin = 'wheels' if 'packages' in marker else 'completed' if 'completes' in marker \
        else 'machine'
    return dict(cuda_home=home, nvcc=toolchain.nvcc_release(osp.join(home, 'bin', 'nvcc')),
                torch_cuda=torch.version.cuda, origin=origin,
                arch_list=toolchain.arch_list() if args.device.startswith('cuda') else '9.0')


def part_mmcv_ops(args) -> dict:
    toolchain = _part_result(args, 'toolchain')
    if toolchain is None:
        raise SkipPart('no CUDA compiler (the toolchain part did not succeed)')
    home = toolchain['cuda_home']
    env = dict(os.environ, CUDA_HOME=home, TORCH_CUDA_ARCH_LIST=toolchain['arch_list'],
               PATH=osp.join(home, 'bin') + os.pathsep + os.environ.get('PATH', ''))
    if not args.device.startswith('cuda'):
        # rehearsal: one CUDA file as the full build compiles it (FORCE_CUDA=1 flags, sm_90):
        # the toy RetinaNet's sigmoid focal loss
        out = osp.join(args.scratch, 'cuda_check.json')
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'check_cuda_build.py'), '--ops',
               'focal_loss',
               '--arch', toolchain['arch_list'], '--cuda-home', home, '--json', out]
        if args.wheels:
            cmd += ['--mmcv-src', _unpacked_sdist(args)]
        _run(cmd, check=True, env=env)
        with open(out) as f:
            check = json.load(f)
        return dict(compiled=check['files'], kernels=check['kernels'], jobs=check['jobs'],
                    build_seconds=check['seconds'], arch_list=toolchain['arch_list'])
    result = _build_mmcv(args, with_ops=True, env=env)
    proc = _run([sys.executable, osp.join(ROOT, 'tools', 'cuda_toolchain.py'), 'check-mmcv',
                 '--cuda'], env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f'mmcv built, but its CUDA ops failed: {proc.stderr.strip()[-500:]}')
    result.update(arch_list=toolchain['arch_list'], check=proc.stderr.strip().splitlines())
    return result


def _unpacked_sdist(args) -> str:
    import tarfile
    dest = osp.join(args.scratch, 'mmcv_src')
    if not osp.isdir(dest):
        with tarfile.open(_mmcv_sdist(args)) as tar:
            tar.extractall(dest, filter='data')
    return glob.glob(osp.join(dest, 'mmcv-*'))[0]


def part_mmcv_lite(args) -> dict:
    if _part_result(args, 'mmcv_ops') and args.device.startswith('cuda'):
        raise SkipPart('mmcv_ops built mmcv with its ops')
    return _build_mmcv(args, with_ops=False)


def part_parity(args) -> dict:
    import torch

    from mmtnt import PyramidTNT, TNTBackbone
    size = (45, 77) if args.quick else (224, 288)
    # quick: models of the same structure, a few channels wide
    tnt = dict(embed_dims=48, inner_dims=8, num_layers=3, num_heads=4, inner_num_heads=2) \
        if args.quick else 's'
    ptnt = dict(depths=[1, 2, 1, 1], outer_dims=[16, 32, 64, 64], inner_dims=[2, 4, 8, 8],
                outer_heads=[1, 2, 4, 4], inner_heads=[1, 1, 2, 2]) if args.quick else 's'
    last = 2 if args.quick else 11
    out = {}
    for name, build in [('TNTBackbone', lambda: TNTBackbone(arch=tnt, out_indices=(1, last),
                                                             pixel_out_indices=last)),
                        ('PyramidTNT', lambda: PyramidTNT(arch=ptnt, word_out_indices=(0, 1)))]:
        torch.manual_seed(0)
        model = build().eval()
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            reference = model(x)
            features = model.to(args.device)(x.to(args.device))
        worst_abs = max((f.float().cpu() - r).abs().max().item()
                        for f, r in zip(features, reference))
        worst_rel = max(((f.float().cpu() - r).norm() / r.norm()).item()
                        for f, r in zip(features, reference))
        out[name] = dict(size=list(size), max_abs_diff=worst_abs, max_rel_l2=worst_rel,
                         outputs=len(features))
    return out


def _speed(args, setting: int) -> dict:
    import torch
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import benchmark
    from benchmark import matmul_peak, report, run_setting
    benchmark.WORKER_PREEXEC = die_with_parent()  # the memory workers die with this part
    amp = autocast_dtype(args.device)  # None: float32, no autocast
    names = ['mmtnt', 'timm_tnt', 'timm_tnt_compile', 'timm_deit']
    if args.quick:  # seconds on a CPU: tiny inputs, no compile
        size, batch, names, repeats = ((64, 64), 2, names[:2] + names[3:], 1) if setting == 224 \
            else ((96, 128), 1, names[:2], 1)
    else:
        size, batch, repeats = ((224, 224), 64, 5) if setting == 224 else ((800, 1344), 2, 3)
    peak = matmul_peak(args.device, getattr(torch, amp or 'float32'))
    # memory: one fresh process per model and pass (quick: left out, it is the slow part)
    rows = run_setting(size, batch, names, repeats, args.device, amp, peak,
                       () if args.quick else names)
    return dict(size=list(size), batch=batch, amp=amp or 'float32', autocast=amp is not None,
                matmul_peak_tflops=peak / 1e12, rows=rows, table=report(rows))


def part_speed_224(args) -> dict:
    return _speed(args, 224)


def part_speed_800(args) -> dict:
    return _speed(args, 800)


def _toy_train(args, amp: bool) -> dict:
    dtype = autocast_dtype(args.device)  # float16 on CUDA, bfloat16 on a CPU that has it
    if amp and dtype is None:
        raise SkipPart(f'no --amp on this CPU: {cpu_features().cpu_bf16_support()[1]}')
    try:
        _run([sys.executable, '-c', 'from mmcv.ops import nms'], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        raise SkipPart("mmcv's compiled ops are not importable")
    iters = 2 if args.quick else TOY_ITERS
    name = 'toy_train_amp' if amp else 'toy_train'
    work = osp.join(args.scratch, name)
    data = osp.abspath(args.toy_data or osp.join(args.scratch, 'toy_shapes')) + '/'
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
            f'train_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.data_root={data}',
            f'val_evaluator.ann_file={data}coco/instances_val.json',
            f'test_evaluator.ann_file={data}coco/instances_val.json']
    if args.quick:  # training only: no COCO evaluation of the 100 validation images
        opts += ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    start = time.perf_counter()
    proc = _run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                 osp.join(ROOT, 'configs', 'toy', 'retinanet_tnt_toy.py'),
                 *(['--amp'] if amp else []), '--work-dir', work, '--cfg-options', *opts],
                capture_output=True, text=True, cwd=ROOT)
    sys.stdout.write(proc.stdout[-20000:] + proc.stderr[-20000:])
    if proc.returncode != 0:
        raise RuntimeError(f'tools/train.py{" --amp" if amp else ""} exited with '
                           f'{proc.returncode}')
    return dict(iterations=iters, seconds=round(time.perf_counter() - start, 1),
                amp=dtype if amp else 'float32', checkpoint=osp.exists(
                    osp.join(work, f'iter_{iters}.pth')),
                optim_wrapper='OptimWrapper' if not amp else 'AmpOptimWrapper'
                if args.device.startswith('cuda') else 'AutocastOptimWrapper',
                **train_log_figures(proc.stdout + proc.stderr))


def train_log_figures(log: str) -> dict:
    """From mmengine's log: the first and last loss, the median seconds per iteration (the
    logged ``time``, the first 5 iterations left out: warm-up) and the COCO bbox mAP."""
    losses = [float(t.split()[0]) for t in log.split(' loss: ')[1:]]
    times = [float(t) for t in re.findall(r'Iter\(train\).*?\s time: ([0-9.]+)', log)]
    times = times[5:] or times
    found = re.findall(r'coco/bbox_mAP: ([0-9.]+)', log)
    return dict(first_loss=losses[0] if losses else None, last_loss=losses[-1] if losses else None,
                s_per_iter=round(statistics.median(times), 4) if times else None,
                bbox_mAP=float(found[-1]) if found else None)


def part_toy_train(args) -> dict:
    return _toy_train(args, amp=False)


def part_toy_train_amp(args) -> dict:
    return _toy_train(args, amp=True)


class SkipPart(Exception):
    """The part cannot run here (nothing to install, no compiled ops, ...)."""


def run_part(args) -> None:
    """In the child process: run one part, write its JSON."""
    if args.site and osp.isdir(args.site):
        sys.path.insert(0, args.site)
    start = time.perf_counter()
    try:
        result = dict(status='ok', result=globals()[f'part_{args.part}'](args))
    except SkipPart as e:
        result = dict(status='skipped', reason=str(e))
    except Exception as e:  # noqa: BLE001  recorded in the report: one part never stops the rest
        result = dict(status='failed', reason=f'{type(e).__name__}: {e}')
    result['seconds'] = round(time.perf_counter() - start, 1)
    path = osp.join(args.scratch, f'{args.part}.json')
    with open(path + '.tmp', 'w') as f:  # whole or absent: the part may be killed at its limit
        json.dump(result, f, indent=1, default=str)
    os.replace(path + '.tmp', path)


# -------------------------------------------------------------------------------------------
# the driver


def _machine(device: str) -> dict:
    import torch
    info = dict(python=platform.python_version(), torch=torch.__version__, device=device,
                cpu=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                date=time.strftime('%Y-%m-%d %H:%M %Z'))
    if device.startswith('cuda') and torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda)
    info['cpu_bf16'], info['cpu_bf16_note'] = cpu_features().cpu_bf16_support()
    return info


# the part processes now running, and the signal (name, number) that stops this run
_RUNNING: List[subprocess.Popen] = []
_STOP: Dict[str, object] = {}


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill a part and everything it started (its own session and process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone
        pass


def _on_stop_signal(signum, frame) -> None:
    """SIGTERM / SIGINT: kill the running part; the driver then skips the rest, writes the
    report and exits with 128 + signum."""
    _STOP.update(name=signal.Signals(signum).name, number=signum)
    for proc in list(_RUNNING):
        _kill_group(proc)


def _run_child(args, part: str, limit: float, log) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), '--part', part, '--device', args.device,
           '--out', args.out, '--site', args.site, '--scratch', args.scratch]
    if args.wheels:
        cmd += ['--wheels', args.wheels]
    if args.toy_data:
        cmd += ['--toy-data', args.toy_data]
    if args.quick:
        cmd.append('--quick')
    log.flush()
    start = time.perf_counter()
    # its own session: a kill of its group reaches what it started; it dies with this process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True, preexec_fn=die_with_parent())
    _RUNNING.append(proc)
    log.write(f'\n===== {part} (limit {limit:.0f} s, pid {proc.pid}) =====\n')
    log.flush()
    try:
        if _STOP:  # the signal came before the part was in _RUNNING
            _kill_group(proc)
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        return dict(status='timeout', reason=f'ran past its {limit:.0f} s limit',
                    seconds=round(time.perf_counter() - start, 1))
    finally:
        _RUNNING.remove(proc)
    if _STOP:
        return dict(status='stopped', reason=f'killed: gpu_check got {_STOP["name"]}',
                    seconds=round(time.perf_counter() - start, 1))
    path = osp.join(args.scratch, f'{part}.json')
    if not osp.exists(path):
        return dict(status='failed', reason=f'exited with {proc.returncode} before its report',
                    seconds=round(time.perf_counter() - start, 1))
    with open(path) as f:
        return json.load(f)


def _targets(parts: dict) -> List[dict]:
    out = []
    for text, setting, peer, key, bound in TARGETS:
        part = parts.get(f'speed_{setting}', {})
        rows = {(r['model'], r['backward']): r for r in part.get('result', {}).get('rows', [])}
        mine, theirs = rows.get(('mmtnt', True)), rows.get((peer, True))
        if part.get('status') != 'ok' or not mine or not theirs or not mine.get(key) \
                or not theirs.get(key):
            out.append(dict(target=text, ratio=None, met=None))
            continue
        ratio = mine[key] / theirs[key]
        out.append(dict(target=text, ratio=round(ratio, 3), met=ratio <= bound))
    return out


def markdown(report: dict) -> str:
    m = report['machine']
    lines = [f'# GPU check: {m.get("gpu", m["device"])}', '',
             f'{m["date"]}; Python {m["python"]}, torch {m["torch"]}'
             f'{", CUDA " + m["cuda"] if m.get("cuda") else ""}; {m["cpus"]} CPUs; '
             f'`{report["command"]}`', '', '| part | status | seconds | note |',
             '|---|---|---|---|']
    for name in PARTS:
        p = report['parts'][name]
        note = p.get('reason', '')
        if name == 'parity' and p['status'] == 'ok':
            note = '; '.join(f'{k}: max abs {v["max_abs_diff"]:.2e}, rel L2 {v["max_rel_l2"]:.2e}'
                             for k, v in p['result'].items())
        elif name == 'toolchain' and p['status'] == 'ok':
            r = p['result']
            origin = dict(wheels='assembled from the toolchain wheels',
                          completed="the machine's, completed with torch's CUDA headers",
                          machine="the machine's")[r['origin']]
            note = (f'nvcc {r["nvcc"]} for torch\'s CUDA {r["torch_cuda"]}, {origin}: '
                    f'{r["cuda_home"]}')
        elif name == 'mmcv_ops' and p['status'] == 'ok':
            r = p['result']
            note = f'{r["arch_list"]}, {r["jobs"]} jobs: built in {r["build_seconds"]} s' + (
                f' ({", ".join(r["compiled"])} only; kernels '
                f'{", ".join(r["kernels"]) if r["kernels"] is not None else "not listed"})'
                if 'compiled' in r else '; ' + ' '.join(r.get('check', [])[-1:]))
        elif name == 'mmcv_lite' and p['status'] == 'ok':
            note = f'built in {p["result"]["build_seconds"]} s'
        elif name in ('toy_train', 'toy_train_amp') and p['status'] == 'ok':
            r = p['result']
            note = (f'{r["amp"]}, {r["iterations"]} iterations, {r["s_per_iter"]} s/iter, '
                    f'loss {r["first_loss"]} -> {r["last_loss"]}, bbox mAP {r["bbox_mAP"]}')
        lines.append(f'| {name} | {p["status"]} | {p.get("seconds", "-")} | {note} |')
    for name in ('speed_224', 'speed_800'):
        p = report['parts'][name]
        if p['status'] == 'ok':
            r = p['result']
            dtype = f'{r["amp"]} autocast' if r.get('autocast', True) else \
                f'{r["amp"]}, no autocast ({m.get("cpu_bf16_note", "")})'
            lines += ['', f'## {name}: {dtype}, matmul peak {r["matmul_peak_tflops"]:.1f} '
                      f'TFLOP/s', r['table']]
    lines += ['', '## Targets (ratios in this run)', '', '| target | ratio | met |', '|---|---|---|']
    for t in report['targets']:
        met = 'not measured' if t['met'] is None else ('yes' if t['met'] else 'no')
        lines.append(f'| {t["target"]} | {t["ratio"] if t["ratio"] is not None else "-"} | '
                     f'{met} |')
    return '\n'.join(lines) + '\n'


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='folder for report.json, report.md, log.txt')
    parser.add_argument('--device', default='cuda', help='cuda (default) or cpu (rehearsal)')
    parser.add_argument('--quick', action='store_true', help='tiny sizes, one repeat (rehearsal)')
    parser.add_argument('--wheels', help='the folder tools/prepare_gpu_bundle.sh filled')
    parser.add_argument('--site', default=osp.join(tempfile.gettempdir(), 'mmtnt_gpu_site'),
                        help='where the carried packages are installed')
    parser.add_argument('--toy-data', help='an existing toy_shapes folder for the toy parts '
                        '(default: generated in the scratch folder)')
    parser.add_argument('--parts', nargs='+', choices=PARTS, default=PARTS,
                        help='run only these parts (default: all, in the order above)')
    parser.add_argument('--budget', type=float, default=630,
                        help='seconds for all parts together (default 630)')
    parser.add_argument('--limits', nargs='*', default=[], metavar='PART=SECONDS',
                        help=f'per-part limits (defaults: {LIMITS})')
    parser.add_argument('--part', choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument('--scratch', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    limits = dict(LIMITS)
    for item in args.limits:
        name, _, seconds = item.partition('=')
        if name not in LIMITS or not seconds.replace('.', '', 1).isdigit():
            parser.error(f'--limits takes PART=SECONDS with PART one of {PARTS}, got {item!r}')
        limits[name] = float(seconds)
    args.limits = limits
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.part:
        run_part(args)
        return 0
    os.makedirs(args.out, exist_ok=True)
    # the parts' results, the toy data and the toy run's checkpoints: removed once the report
    # is written
    args.scratch = tempfile.mkdtemp(prefix='gpu_check_')
    try:
        return _run_parts(args, argv)
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)


def _run_parts(args, argv: Optional[List[str]]) -> int:
    if args.wheels:
        args.wheels = osp.abspath(args.wheels)
    # the children (and their own subprocesses) import what was installed into the site folder
    os.environ['PYTHONPATH'] = os.pathsep.join(
        p for p in (args.site, ROOT, os.environ.get('PYTHONPATH')) if p)
    _STOP.clear()
    # while the parts run: a SIGTERM / SIGINT kills the running one (then the report is written)
    previous = {s: signal.signal(s, _on_stop_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.perf_counter() + args.budget
    parts: Dict[str, dict] = {}
    with open(osp.join(args.out, 'log.txt'), 'w') as log:
        for part in PARTS:
            left = deadline - time.perf_counter()
            if _STOP:
                parts[part] = dict(status='skipped', reason=f'gpu_check got {_STOP["name"]}')
                continue
            if part not in args.parts:
                parts[part] = dict(status='skipped', reason='not in --parts')
                continue
            if left < 5:
                parts[part] = dict(status='skipped', reason='no time left in --budget')
                continue
            parts[part] = _run_child(args, part, min(args.limits[part], left), log)
            log.write(f'----- {part}: {parts[part]["status"]} '
                      f'{parts[part].get("reason", "")}\n')
            log.flush()
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    report = dict(machine=_machine(args.device), command=' '.join(['python tools/gpu_check.py'] +
                                                                  (argv or sys.argv[1:])),
                  budget=args.budget, limits=args.limits, parts=parts, targets=_targets(parts))
    with open(osp.join(args.out, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1, default=str)
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(markdown(report))
    return 128 + _STOP['number'] if _STOP else 0


if __name__ == '__main__':
    sys.exit(main())
