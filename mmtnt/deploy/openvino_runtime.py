"""Run an exported graph in OpenVINO on the CPU: float32, bfloat16 (its
``INFERENCE_PRECISION_HINT``, on CPUs with native bfloat16) or int8: the IR NNCF quantized
(:func:`mmtnt.deploy.quantize_openvino_int8`, what ``tools/test.py --backend openvino --precision
int8`` runs) or ONNX Runtime's QDQ file (:func:`mmtnt.deploy.quantize_int8`), which OpenVINO
also reads and runs in int8."""
from typing import Dict, List, Optional

import numpy as np
import torch.nn as nn
from mmengine.logging import print_log

from mmtnt.utils.cpu_features import cpu_bf16_support
from .runtime import DeployedModel, is_quantized, median_per_kind

# mmtnt's precision names -> OpenVINO's INFERENCE_PRECISION_HINT values
PRECISION_HINTS = {'fp32': 'f32', 'bf16': 'bf16'}


def check_bf16_cpu() -> None:
    """Raise unless this CPU computes bfloat16 natively (``MMTNT_CPU_BF16`` overrides).

    Without it OpenVINO's CPU plugin ignores the bf16 hint (float32 under a bf16 label) or
    emulates it; neither is a bf16 figure.

    Raises:
        ValueError: naming the missing instructions and the CPUs that have them.
    """
    native, message = cpu_bf16_support()
    if not native:
        raise ValueError(f'--precision bf16 needs native bfloat16: {message}. CPUs that have it: '
                         f'Intel Xeon Cooper Lake and Sapphire Rapids or newer (avx512_bf16 / '
                         f'AMX), AMD Zen 4 or newer (avx512_bf16), Arm v8.6+ (bf16). Run fp32 '
                         f'or int8 here, or bf16 on such a CPU.')


def integer_products(compiled) -> Optional[int]:
    """Linear / Conv / MatMul layers an OpenVINO compiled model runs in i8 / u8 (None where its
    runtime model does not say: no ``layerType`` / ``runtimePrecision`` in any layer's info)."""
    count, described = 0, False
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if 'layerType' not in info or 'runtimePrecision' not in info:
            continue
        described = True
        if info['layerType'].astype(str) in ('FullyConnected', 'Convolution', 'MatMul') and \
                info['runtimePrecision'].astype(str) in ('i8', 'u8'):
            count += 1
    return count if described else None


class OpenVINOModel(DeployedModel):
    """An OpenVINO CPU model compiled from an mmtnt ONNX export or its OpenVINO IR (any input
    size).

    Args:
        path: the ``.onnx`` file (float, or int8 QDQ from :func:`mmtnt.deploy.quantize_int8`)
            or an IR ``.xml`` (int8 from :func:`mmtnt.deploy.quantize_openvino_int8`).
        model: the detector / segmentor the graph was exported from, for :meth:`predict`.
        precision: ``'fp32'`` or ``'bf16'``: the ``INFERENCE_PRECISION_HINT`` of the float parts
            (of every part in a float graph; an int8 graph's quantized ops run in int8 either
            way). bf16 is refused on CPUs without native bfloat16 (:func:`check_bf16_cpu`).
        num_threads: ``INFERENCE_NUM_THREADS`` (default: OpenVINO's choice).
        profile: compile with ``PERF_COUNT`` for :meth:`profile_ops`.

    Attributes:
        hint (str): the ``INFERENCE_PRECISION_HINT`` the compiled model reports back.
        integer_ops (int): Linear / Conv / MatMul layers of the compiled model that run in
            i8 / u8 (its runtime model's ``runtimePrecision``).
        precision (str): ``int8`` where ``integer_ops`` > 0, else what ``hint`` says (``fp32``
            / ``bf16``); a bf16 request that OpenVINO turned into f32 is logged as a fallback.
    """

    backend = 'openvino'

    def __init__(self,
                 path: str,
                 model: Optional[nn.Module] = None,
                 precision: str = 'fp32',
                 num_threads: Optional[int] = None,
                 profile: bool = False) -> None:
        super().__init__(model)
        if precision not in PRECISION_HINTS:
            raise ValueError(f'precision={precision!r}: OpenVINOModel takes '
                             f'{sorted(PRECISION_HINTS)}; int8 comes from a quantized model '
                             f'(mmtnt.deploy.quantize_openvino_int8 or quantize_int8).')
        if precision == 'bf16':
            check_bf16_cpu()
        try:
            import openvino as ov
        except ImportError as e:  # pragma: no cover - installed by tools/setup_env.sh
            raise ImportError('openvino is needed for --backend openvino: bash tools/setup_env.sh '
                              'installs the pinned version (tools/constraints.txt).') from e
        core = ov.Core()
        config = {'INFERENCE_PRECISION_HINT': PRECISION_HINTS[precision]}
        if num_threads:
            config['INFERENCE_NUM_THREADS'] = int(num_threads)
        if profile:
            config['PERF_COUNT'] = True
        self.profiled = profile
        self.compiled = core.compile_model(core.read_model(path), 'CPU', config)
        self.request = self.compiled.create_infer_request()
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        hint = self.compiled.get_property('INFERENCE_PRECISION_HINT')  # an ov.Type
        self.hint = hint.get_type_name() if hasattr(hint, 'get_type_name') else str(hint)
        effective = {'f32': 'fp32', 'bf16': 'bf16', 'f16': 'fp16'}.get(self.hint, self.hint)
        quantized = is_quantized(path)
        # (None where this OpenVINO does not report its layers' runtimePrecision)
        integer_ops = integer_products(self.compiled) if quantized else 0
        self._set_precision(path, effective, integer_ops, quantized)
        int8_note = (f'int8 ({self.integer_ops} integer products) with float parts in '
                     if self.integer_ops else '')
        if effective != precision:
            print_log(f'OpenVINO was asked for {precision} and runs {effective} '
                      f'(INFERENCE_PRECISION_HINT={self.hint}): the figures are {effective}.',
                      logger='current', level=30)
        print_log(f'OpenVINO {ov.__version__.split("-")[0]} on '
                  f'{core.get_property("CPU", "FULL_DEVICE_NAME")}: {path} '
                  f'{int8_note}'
                  f'INFERENCE_PRECISION_HINT={self.hint}', logger='current')

    def run(self, inputs: np.ndarray) -> List[np.ndarray]:
        results = self.request.infer({0: inputs})
        return [results[o] for o in self.compiled.outputs]

    def profile_ops(self, inputs: np.ndarray, repeats: int = 3) -> Dict[str, float]:
        """Keys: OpenVINO's layer type and the kernel it chose (e.g. ``FullyConnected
        brgemm_avx2_I8``), so that integer and float kernels show apart."""
        if not self.profiled:
            raise ValueError('profile_ops needs OpenVINOModel(..., profile=True).')
        self.run(inputs)  # warm-up
        calls = []
        for _ in range(repeats):
            self.run(inputs)
            totals: Dict[str, float] = {}
            for info in self.request.get_profiling_info():
                key = f'{info.node_type} {info.exec_type}'
                totals[key] = totals.get(key, 0.0) + info.real_time.total_seconds()
            calls.append(totals)
        return median_per_kind(calls)
