"""Speed and memory of TNTBackbone and PyramidTNT against timm's TNT-S / DeiT-S and mmpretrain's
TNT-S; mmtnt also compiled (``torch.compile``) and exported to ONNX Runtime (fp32, int8) and
OpenVINO (fp32, bf16, int8), and a whole RetinaNet-TNT-S (backbone, neck, head; no
post-processing) and the toy RetinaNet / UperNet in the same ways.

    python tools/benchmark.py                 # 224x224 batch 8 and 800x1344 batch 1, CPU fp32
    python tools/benchmark.py --sizes 224 --repeats 7
    python tools/benchmark.py --device cuda   # AMP (fp16 autocast) on a GPU
    python tools/benchmark.py --amp bfloat16 --sizes 224   # bf16 autocast on a CPU
    python tools/benchmark.py --sizes 128    # the toy RetinaNet / UperNet, PyTorch and deployed
    python tools/benchmark.py --quick         # seconds: tiny inputs, backbones and a toy detector
                                              # in PyTorch and OpenVINO (tests)
    python tools/benchmark.py --attention     # SDPA vs manual attention on TNT-S's shapes
    python tools/benchmark.py --attention --amp bfloat16   # the same in bfloat16
    python tools/benchmark.py --models mmtnt mmtnt_ptnt timm_deit   # a subset
    python tools/benchmark.py --sizes 224 --models mmtnt mmtnt_ov mmtnt_ov_int8 --profile
        # and where the deployed rows' time goes, by operation and kernel
    python tools/benchmark.py --sizes 224 --models mmtnt mmtnt_compile mmtnt_ort timm_tnt \
        timm_tnt_compile mmpretrain_tnt --no-memory

ONNX Runtime and OpenVINO rows are forward only, on the CPU; their graph is exported with dynamic
batch / height / width, as tools/export_onnx.py --dynamic does; int8 rows quantize it as
tools/test.py --precision int8 does (ONNX Runtime: mmtnt.deploy.quantize_int8; OpenVINO: NNCF,
mmtnt.deploy.quantize_openvino_int8; ``_ov_int8_qdq``: ONNX Runtime's file run by OpenVINO),
calibrated on 4 random batches
(speed does not depend on the ranges; accuracy is tools/test.py's on real images); bf16 rows
(OpenVINO's INFERENCE_PRECISION_HINT) only run on CPUs with native bfloat16. "_frozen" rows compile with
inductor's freezing (weights as constants, prepacked), which applies to inference only, so they
are forward only too. Compiled models are compiled before timing (warm-up), and their memory is
not measured.

Throughput is measured in one process with the models interleaved, each repeat timing every
model once, and the median of the repeats is reported (this machine's timings move by 20-30 %
between runs, so only ratios from one run are compared). "Peak" is the extra memory one step
needs: on a CPU the rise of the process's peak RSS (reset before the step) in a fresh
subprocess per model, on a GPU ``torch.cuda.max_memory_allocated``. "% peak" is the model's
FLOPs per second over the machine's measured 2048^3 matmul rate in the autocast dtype (fp32
without autocast: the CPU default; fp16 on a GPU by default).

The models and what each setting compares are declared in tools/benchmark_models.py.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable, List, Optional

import os.path as osp
import tempfile

import torch
from mmengine.logging import MMLogger
from torch.utils.flop_counter import (FlopCounterMode, sdpa_backward_flop_count,
                                      sdpa_flop_count)

# the model table, beside this file (run as a script or imported, tools/ is on sys.path)
from benchmark_models import ATTENTION_SHAPES, MODELS, QUICK_SETTINGS, SETTINGS

logger = MMLogger.get_instance('mmtnt_benchmark')


# calibration batches of the int8 rows: random images at the benchmark's size. Speed does not
# depend on the ranges they give; accuracy is tools/test.py --precision int8's, on real images.
CALIB_BATCHES = 4


class DeployedFeatures(torch.nn.Module):
    """A model exported (dynamic batch / height / width, as tools/export_onnx.py --dynamic) and
    run by ONNX Runtime or OpenVINO in fp32, bf16 (OpenVINO's precision hint) or int8 as
    tools/test.py --precision int8 quantizes for each (ONNX Runtime: the QDQ file of
    :func:`mmtnt.deploy.quantize_int8`; OpenVINO: NNCF's IR of
    :func:`mmtnt.deploy.quantize_openvino_int8`), or ``int8_qdq``: the QDQ file in OpenVINO;
    forward only."""

    # --profile: the runtimes record per-node times (OpenVINO's PERF_COUNT, ONNX Runtime's
    # profiler) for profile_table()
    profile = False

    def __init__(self, model: torch.nn.Module, size, backend: str, precision: str) -> None:
        super().__init__()
        import numpy as np

        from mmtnt.deploy import (OnnxRuntimeModel, OpenVINOModel, quantize_int8,
                                  quantize_openvino_int8)
        # the session holds the graph once it is built: the files go with the folder
        with tempfile.TemporaryDirectory(prefix='mmtnt_bench_') as folder, torch.no_grad():
            path = osp.join(folder, 'model.onnx')
            torch.onnx.export(model.eval(), (torch.randn(1, 3, *size), ), path, dynamo=False,
                              opset_version=17, input_names=['inputs'],  # as export_onnx's
                              dynamic_axes={'inputs': {0: 'batch', 2: 'height', 3: 'width'}})
            if precision.startswith('int8'):
                rng = np.random.default_rng(0)
                batches = [rng.standard_normal((1, 3, *size), dtype=np.float32)
                           for _ in range(CALIB_BATCHES)]
                if backend == 'openvino' and precision == 'int8':  # as tools/test.py
                    quantize_openvino_int8(path, osp.join(folder, 'int8.xml'), batches)
                    path = osp.join(folder, 'int8.xml')
                else:
                    quantize_int8(path, osp.join(folder, 'int8.onnx'), batches)
                    path = osp.join(folder, 'int8.onnx')
            if backend == 'onnxruntime':
                self.runtime = OnnxRuntimeModel(path, profile=self.profile)
            else:
                self.runtime = OpenVINOModel(path, precision='bf16' if precision == 'bf16'
                                             else 'fp32', profile=self.profile)

    def forward(self, x):
        if torch.is_grad_enabled():
            raise RuntimeError('ONNX Runtime and OpenVINO run inference only.')
        return tuple(self.runtime(x))

    def profile_table(self, x, label: str, top: int = 10) -> str:
        """Where the time of a call goes: the backend's kinds of operation, largest first."""
        ops = self.runtime.profile_ops(x.numpy())
        total = sum(ops.values())
        lines = [f'\n{label}: {total * 1e3:.1f} ms of operations per call',
                 '| operation (kernel) | ms | share |', '|---|---|---|']
        for op, seconds in list(ops.items())[:top]:
            lines.append(f'| {op} | {seconds * 1e3:.1f} | {100 * seconds / total:.0f} % |')
        rest = sum(list(ops.values())[top:])
        if rest:
            lines.append(f'| {len(ops) - top} others | {rest * 1e3:.1f} | '
                         f'{100 * rest / total:.0f} % |')
        return '\n'.join(lines)


def create_model(name: str, size) -> torch.nn.Module:
    """``MODELS[name]`` at image size ``size``: the eager model, compiled or deployed."""
    spec = MODELS[name]
    if spec.base is None:
        return spec.build(size)
    model = create_model(spec.base, size)
    if spec.backend is not None:
        return DeployedFeatures(model, size, spec.backend, spec.precision)
    return torch.compile(model, options=spec.compile_options or None)


def matmul_peak(device: str, dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Measured dense matmul rate in FLOP/s (the machine's practical peak)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    times = []
    for _ in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times[1:])


def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _step(model, x, backward: bool, amp: Optional[str]):
    """One forward (without autograd) or forward + backward step, under autocast to ``amp``
    ('float16' / 'bfloat16') unless it is None."""
    with torch.autocast(x.device.type, dtype=getattr(torch, amp or 'bfloat16'),
                        enabled=amp is not None), \
            torch.set_grad_enabled(backward):
        out = model(x)
        loss = sum(o.float().mean() for o in (out if isinstance(out, (tuple, list)) else [out]))
    if backward:
        loss.backward()


def _build(name, size, device, backward):
    model = create_model(name, size)
    if isinstance(model, DeployedFeatures):
        return model
    model = model.to(device)
    model.train(backward)  # dropout / drop path are 0 in all models; train() enables with_cp
    return model


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args,
                             **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch's FlopCounterMode has formulas for the CUDA attention kernels, none for the CPU one
CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


def count_flops(model, x, backward: bool) -> int:
    with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as counter:
        _step(model, x, backward, amp=None)
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def memory_worker(name: str, size, batch: int, backward: bool, device: str,
                  amp: Optional[str]) -> dict:
    """One step of one model; returns the extra memory it needed (run in a fresh process)."""
    torch.manual_seed(0)
    model = _build(name, size, device, backward)
    x = torch.randn(batch, 3, *size, device=device)
    if device.startswith('cuda'):
        _step(model, x, backward, amp)  # warm-up (cuDNN / allocator)
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        _step(model, x, backward, amp)
        torch.cuda.synchronize()
        return dict(peak_bytes=torch.cuda.max_memory_allocated() - base)
    with open('/proc/self/clear_refs', 'w') as f:  # reset the peak RSS (VmHWM) to the current RSS
        f.write('5')
    base = _proc_status('VmRSS')
    _step(model, x, backward, amp)
    return dict(peak_bytes=_proc_status('VmHWM') - base)


def _proc_status(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{key} not in /proc/self/status')


# run in each memory worker process before it starts (tools/gpu_check.py sets it so that the
# workers die with their parent)
WORKER_PREEXEC: Optional[Callable[[], None]] = None


def measure_memory(jobs: List[tuple], device: str, amp: Optional[str],
                   parallel: int = 2) -> List[int]:
    """The extra memory of each job's step, ``(name, size, batch, backward)``, measured in a
    fresh process of its own, ``parallel`` processes at a time (each reads its own peak, so
    they do not change each other's figure; together they start in about half the time)."""
    procs, results = [], []
    for name, size, batch, backward in jobs:
        cmd = [sys.executable, __file__, '--memory-worker', name, '--worker-size', str(size[0]),
               str(size[1]), '--worker-batch', str(batch), '--device', device]
        if backward:
            cmd.append('--worker-backward')
        if amp:
            cmd += ['--amp', amp]
        procs.append((name, cmd))
    running = []
    for i, (name, cmd) in enumerate(procs):
        running.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True, preexec_fn=WORKER_PREEXEC)))
        if len(running) == parallel or i == len(procs) - 1:
            for name, proc in running:
                out, err = proc.communicate()
                if proc.returncode != 0:
                    raise RuntimeError(f'memory worker for {name} failed:\n{err[-2000:]}')
                results.append(json.loads(out.strip().splitlines()[-1])['peak_bytes'])
            running = []
    return results


def available(names: List[str], size, device: str = 'cpu') -> List[str]:
    """``names`` less those this machine cannot run (a package missing; the CPU backends on a
    GPU; bf16 rows on a CPU without native bfloat16), each skip logged with its reason."""
    out = []
    for name in names:
        try:
            spec = MODELS[name]
            if spec.backend is not None:
                if device != 'cpu':
                    raise ValueError(f'ONNX Runtime / OpenVINO rows run on the CPU, not {device}')
                __import__(spec.backend)  # built (exported) once, when timed
                if spec.precision == 'int8_qdq' or (spec.precision == 'int8' and
                                                    spec.backend == 'onnxruntime'):
                    __import__('onnxruntime')  # ONNX Runtime's quantizer
                elif spec.precision == 'int8':
                    __import__('nncf')  # OpenVINO's
                if spec.precision == 'bf16':
                    from mmtnt.deploy import check_bf16_cpu
                    check_bf16_cpu()
            else:
                create_model(name, size)
            out.append(name)
        except (ImportError, ValueError) as e:
            logger.info(f'skipping {name}: {e}')
    return out


def run_setting(size, batch, names, repeats, device, amp, peak, memory_of=()) -> List[dict]:
    """Time ``names`` interleaved at ``size``; the peak memory (a subprocess per model and step)
    of those also in ``memory_of``."""
    torch.manual_seed(0)
    names = available(names, size, device)
    x = torch.randn(batch, 3, *size, device=device)
    rows = []
    for backward in (False, True):
        step_names = [n for n in names if not (backward and MODELS[n].forward_only)]
        models = {n: _build(n, size, device, backward) for n in step_names}
        flops, params = {}, {}
        for n in step_names:
            base = MODELS[n].base
            counted = models[n] if base is None else _build(base, size, device, backward)
            flops[n] = count_flops(counted, x, backward)
            params[n] = sum(p.numel() for p in counted.parameters())
        times = {n: [] for n in names}
        for n, m in models.items():  # warm-up
            _step(m, x, backward, amp)
        for _ in range(repeats):
            for n, m in models.items():  # interleaved: every repeat times each model once
                m.zero_grad(set_to_none=True)
                _sync(device)
                t = time.perf_counter()
                _step(m, x, backward, amp)
                _sync(device)
                times[n].append(time.perf_counter() - t)
        for n in step_names:
            t = statistics.median(times[n])
            rows.append(dict(model=n, size=size, batch=batch, backward=backward, seconds=t,
                             img_per_s=batch / t, peak_share=flops[n] / t / peak,
                             gflops_per_img=flops[n] / batch / 1e9, params=params[n],
                             memory=None))
            if isinstance(models[n], DeployedFeatures):  # what the backend says it ran
                runtime = models[n].runtime
                rows[-1].update(runs=runtime.precision, integer_ops=runtime.integer_ops,
                                hint=getattr(runtime, 'hint', None),
                                profiled=DeployedFeatures.profile)
                if DeployedFeatures.profile:
                    logger.info(models[n].profile_table(
                        x, f'{MODELS[n].label}, {size[0]}x{size[1]} batch {batch}'))
        del models
    measured = [r for r in rows if r['model'] in memory_of and MODELS[r['model']].base is None]
    peaks = measure_memory([(r['model'], size, batch, r['backward']) for r in measured], device,
                           amp)
    for r, peak_bytes in zip(measured, peaks):
        r['memory'] = peak_bytes
    return rows


def report(rows: List[dict]) -> str:
    lines = []
    for (size, backward), group in _groups(rows).items():
        ref = {r['model']: r for r in group}
        base = ref.get('timm_tnt')
        step = 'forward+backward' if backward else 'forward'
        lines.append(f'\n{size[0]}x{size[1]}, batch {group[0]["batch"]}, {step}')
        lines.append('| model | params | GFLOPs/img | img/s | s/step | % matmul peak | peak mem '
                     '| time vs timm TNT-S | mem vs timm TNT-S |')
        lines.append('|---|---|---|---|---|---|---|---|---|')
        for r in group:
            mem = f'{r["memory"] / 2**30:.2f} GiB' if r['memory'] is not None else '-'
            t_ratio = f'{r["seconds"] / base["seconds"]:.2f}x' if base else '-'
            m_ratio = (f'{r["memory"] / base["memory"]:.2f}x' if base and None not in (
                r['memory'], base['memory']) else '-')
            label = MODELS[r['model']].label
            if r.get('runs') and r['runs'] != MODELS[r['model']].precision:
                label += f' (runs {r["runs"]})'  # the backend's own account
            lines.append(f'| {label} | {r["params"] / 1e6:.1f} M | '
                         f'{r["gflops_per_img"]:.1f} | {r["img_per_s"]:.2f} | '
                         f'{r["seconds"]:.3f} | {100 * r["peak_share"]:.0f} % | {mem} | '
                         f'{t_ratio} | {m_ratio} |')
    return '\n'.join(lines)


def _groups(rows):
    groups = {}
    for r in rows:
        groups.setdefault((tuple(r['size']), r['backward']), []).append(r)
    return groups


def time_attention_kernels(repeats: int, device: str, dtype: Optional[str] = None) -> str:
    """Median ms of SDPA and of the manual kernel on TNT-S's inner and outer attention shapes,
    forward and forward + backward, interleaved, in ``dtype`` (float32 if None): the measurement
    behind ``fused_attn='auto'``."""
    from mmtnt.layers.attention import softmax_attention
    dtype = getattr(torch, dtype or 'float32')
    lines = [f'| attention (224, batch 8, {str(dtype)[6:]}) | pass | SDPA ms | manual ms |',
             '|---|---|---|---|']
    for name, shape in ATTENTION_SHAPES.items():
        for backward in (False, True):
            q, k, v = (torch.randn(shape, device=device, dtype=dtype, requires_grad=backward)
                       for _ in range(3))
            # a dense incoming gradient, as the output projection gives (out.sum()'s expanded
            # one would send the manual kernel's batched matmuls down a strided path)
            grad = torch.randn(shape, device=device, dtype=dtype)
            times = {True: [], False: []}
            for r in range(repeats + 1):
                for fused in (True, False):
                    _sync(device)
                    t = time.perf_counter()
                    with torch.set_grad_enabled(backward):
                        out = softmax_attention(q, k, v, fused=fused)
                        if backward:
                            out.backward(grad)
                    _sync(device)
                    if r:  # the first round warms up
                        times[fused].append(time.perf_counter() - t)
            sdpa, manual = (statistics.median(times[f]) * 1e3 for f in (True, False))
            lines.append(f'| {name} | {"fwd+bwd" if backward else "forward"} | {sdpa:.1f} | '
                         f'{manual:.1f} |')
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark TNT implementations')
    parser.add_argument('--sizes', nargs='+', type=int, default=[224, 800],
                        choices=sorted(SETTINGS),
                        help='224: 224x224 batch 8; 800: 800x1344 batch 1; 128: the toy RetinaNet and '
                        'UperNet at 128x128 batch 8')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--models', nargs='+', choices=sorted(MODELS),
                        help='only these models (default: every model of each setting)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    parser.add_argument('--quick', action='store_true',
                        help='tiny inputs, one repeat: TNT-S, PyramidTNT-S, timm TNT-S (memory of '
                        'mmtnt and timm only), the toy RetinaNet in PyTorch and OpenVINO (tests)')
    parser.add_argument('--json', help='also write the raw rows to this file')
    parser.add_argument('--profile', action='store_true',
                        help='ONNX Runtime / OpenVINO rows: also where the time goes, by kind of '
                        'operation and kernel (the backends\' profilers, on while timing)')
    parser.add_argument('--attention', action='store_true',
                        help='only time the two attention kernels on TNT-S shapes')
    parser.add_argument('--amp', choices=['float16', 'bfloat16', 'none'],
                        help='autocast dtype (default: float16 on CUDA, none on a CPU)')
    # internal: one memory measurement in a fresh process
    parser.add_argument('--memory-worker', help=argparse.SUPPRESS)
    parser.add_argument('--worker-size', nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument('--worker-batch', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--worker-backward', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    amp = args.amp or ('float16' if args.device.startswith('cuda') else 'none')
    amp = None if amp == 'none' else amp
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, tuple(args.worker_size),
                                       args.worker_batch, args.worker_backward, args.device,
                                       amp)))
        return
    if args.attention:  # kernels against each other: no model, no matmul peak needed
        logger.info('\n' + time_attention_kernels(args.repeats * 3, args.device, amp))
        return
    DeployedFeatures.profile = args.profile
    peak = matmul_peak(args.device, getattr(torch, amp or 'float32'))
    logger.info(f'device {args.device} ({f"autocast {amp}" if amp else "fp32"}), threads '
                f'{torch.get_num_threads()}, measured 2048^3 matmul peak '
                f'{peak / 1e9:.0f} GFLOP/s')
    if args.quick:
        settings, repeats, wanted = QUICK_SETTINGS, 1, None
    else:
        settings, repeats, wanted = [SETTINGS[s] for s in args.sizes], args.repeats, args.models
    rows = []
    for setting in settings:
        names = [n for n in setting.models if not wanted or n in wanted]
        memory_of = () if args.no_memory else (
            names if setting.memory is None else setting.memory)
        rows += run_setting(setting.size, setting.batch, names, repeats, args.device, amp, peak,
                            memory_of)
    logger.info(report(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
