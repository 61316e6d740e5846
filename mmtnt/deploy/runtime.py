"""Run an exported graph in a backend (ONNX Runtime here, OpenVINO in
:mod:`mmtnt.deploy.openvino_runtime`), with the model's own pre- and post-processing."""
import json
import os.path as osp
import shutil
import statistics
import tempfile
import time
import weakref
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log

from .graph import group_outputs, model_task
from .quantize_openvino import ir_is_quantized, is_openvino_ir
from .timing import median_seconds_per_image


class DeployedModel:
    """What every backend shares: tensors in and out, timing, and :meth:`predict`.

    Called with a preprocessed batch it returns the graph's outputs as tensors; with the PyTorch
    model built from the same config (its weights are not used), :meth:`predict` gives what
    ``model.predict`` gives: the model's data preprocessor, the graph in the backend, then the
    model's post-processing in Python (anchors, box decoding, NMS; cropping and resizing logits).
    Subclasses set ``output_names`` and implement :meth:`run`.

    Attributes:
        backend (str): the backend's name, for logs.
        precision (str): what the backend computes in, read back from it: ``fp32``, ``bf16``
            (OpenVINO's hint), ``int8`` where it runs the quantized products in integer kernels
            (``integer_ops`` > 0; a quantized graph it runs in float is logged and labelled
            ``fp32``).
        integer_ops (int): Linear / Conv products the backend runs in integer kernels.
        timings (list[tuple[float, int]]): per call of the graph, (seconds, batch size): the
            backend alone, without pre- and post-processing.
    """

    backend = 'none'

    def __init__(self, model: Optional[nn.Module] = None) -> None:
        self.model = model
        self.output_names: List[str] = []
        self.precision = 'fp32'
        self.integer_ops = 0
        self.timings: List[tuple] = []

    def _set_precision(self, path: str, float_precision: str, integer_ops: Optional[int],
                       quantized: bool) -> None:
        """``precision`` from what the backend reports: int8 only where it runs integer
        products; a quantized graph run in float is said, not labelled int8. ``integer_ops``
        None: the backend does not say (labelled by the graph, and the log says so)."""
        if integer_ops is None:
            print_log(f'{self.backend} does not report which products of the quantized {path} '
                      f'run in integers: labelled int8 as quantized.', logger='current',
                      level=30)
            integer_ops = count_ops(path, ('DequantizeLinear', ))
        self.integer_ops = integer_ops
        self.precision = 'int8' if integer_ops else float_precision
        if integer_ops == 0 and quantized:
            print_log(f'{self.backend} runs no product of the quantized graph {path} in integer '
                      f'kernels (it dequantizes them): its figures are {float_precision}, not '
                      f'int8.', logger='current', level=30)

    def run(self, inputs: np.ndarray) -> List[np.ndarray]:
        """(B, C, H, W) float32 array -> the graph's outputs, in order."""
        raise NotImplementedError

    def __call__(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """(B, C, H, W) preprocessed batch -> the graph's outputs."""
        array = np.ascontiguousarray(inputs.detach().cpu().float().numpy())
        start = time.perf_counter()
        outputs = self.run(array)
        self.timings.append((time.perf_counter() - start, array.shape[0]))
        return [torch.from_numpy(np.asarray(o, dtype=np.float32)) for o in outputs]

    def profile_ops(self, inputs: np.ndarray, repeats: int = 3) -> Dict[str, float]:
        """Seconds per call by kind of operation (the backend's own profiler, summed over the
        graph's nodes, the median of ``repeats`` calls after a warm-up), largest first: where
        a deployed model's time goes. Needs the model built with ``profile=True``."""
        raise NotImplementedError

    def seconds_per_image(self, skip: int = 1) -> Optional[float]:
        """The median over calls of seconds per image, leaving out the first ``skip`` calls
        (warm-up: the backends compile kernels for each new shape). None before any call."""
        return median_seconds_per_image(self.timings, skip)

    def predict(self, data: dict) -> list:
        """A batch from the model's dataloader -> data samples with predictions, as
        ``model.test_step(data)``."""
        if self.model is None:
            raise ValueError(f'predict() needs the PyTorch model built from the same config: '
                             f'{type(self).__name__}(path, model=model).')
        data = self.model.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        outputs = self(inputs)
        if model_task(self.model) == 'segmentation':
            return self.model.postprocess_result(outputs[0], samples)
        head = self.model.bbox_head
        results = head.predict_by_feat(*group_outputs(self.output_names, outputs),
                                       batch_img_metas=[s.metainfo for s in samples],
                                       rescale=True)
        return self.model.add_pred_to_datasample(samples, results)


class OnnxRuntimeModel(DeployedModel):
    """An ONNX Runtime session over an mmtnt export (:func:`mmtnt.deploy.export_onnx`), float or
    int8 (:func:`mmtnt.deploy.quantize_int8`).

    Args:
        path: the ``.onnx`` file.
        model: the detector / segmentor the graph was exported from, for :meth:`predict`.
        providers: ONNX Runtime execution providers (default: CPU).
        num_threads: intra-op threads (default: ONNX Runtime's choice, one per core).
        profile: record per-node times for :meth:`profile_ops` (ONNX Runtime's profiler).
    """

    backend = 'onnxruntime'

    def __init__(self,
                 path: str,
                 model: Optional[nn.Module] = None,
                 providers: Optional[Sequence[str]] = None,
                 num_threads: Optional[int] = None,
                 profile: bool = False) -> None:
        super().__init__(model)
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - installed by tools/setup_env.sh
            raise ImportError('onnxruntime is needed to run exported models: '
                              'bash tools/setup_env.sh installs the pinned version.') from e
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self._profile_dir = None
        if profile:
            self._profile_dir = tempfile.mkdtemp(prefix='mmtnt_ort_profile_')
            weakref.finalize(self, shutil.rmtree, self._profile_dir, ignore_errors=True)
            options.enable_profiling = True
            options.profile_file_prefix = osp.join(self._profile_dir, 'ort')
        providers = list(providers or ['CPUExecutionProvider'])
        self.session = ort.InferenceSession(path, options, providers=providers)
        quantized = is_quantized(path)
        # (None on a provider that compiles the graph: not countable)
        integer_ops = _ort_integer_ops(path, providers) if quantized else 0
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._set_precision(path, 'fp32', integer_ops, quantized)

    def run(self, inputs: np.ndarray) -> List[np.ndarray]:
        return self.session.run(None, {self.input_name: inputs})

    def profile_ops(self, inputs: np.ndarray, repeats: int = 3) -> Dict[str, float]:
        """Once per model: ONNX Runtime's profiler stops when its file is read."""
        if self._profile_dir is None:
            raise ValueError('profile_ops needs OnnxRuntimeModel(..., profile=True), and runs '
                             'once per model (ONNX Runtime stops profiling when it reports).')
        for _ in range(repeats + 1):
            self.run(inputs)
        path = self.session.end_profiling()  # the profiler stops: the session runs on without
        with open(path) as f:
            events = json.load(f)
        shutil.rmtree(self._profile_dir, ignore_errors=True)
        self._profile_dir = None
        # one event per node and call: "<node>_kernel_time", with the op type in its args
        calls = []
        runs = [e for e in events if e.get('name') == 'model_run']
        for run in runs[-repeats:]:  # these calls, after their warm-up
            start, end = run['ts'], run['ts'] + run['dur']
            totals: Dict[str, float] = {}
            for e in events:
                if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time') and \
                        start <= e['ts'] <= end:
                    op = e.get('args', {}).get('op_name', '?')
                    totals[op] = totals.get(op, 0.0) + e['dur'] * 1e-6
            calls.append(totals)
        return median_per_kind(calls)


def _ort_integer_ops(path: str, providers: List[str]) -> Optional[int]:
    """How many products of the quantized ``path`` ONNX Runtime's CPU provider fuses into
    integer kernels: counted in the optimized graph a throwaway session writes (None for other
    providers, which compile the graph and write none)."""
    import onnxruntime as ort
    if providers != ['CPUExecutionProvider']:
        return None
    options = ort.SessionOptions()
    # (errors only: ONNX Runtime warns that the file it writes suits this machine alone, which
    # is all it is read for)
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix='mmtnt_ort_') as folder:
        options.optimized_model_filepath = osp.join(folder, 'optimized.onnx')
        ort.InferenceSession(path, options, providers=providers)
        return count_ops(options.optimized_model_filepath, ORT_INTEGER_KERNELS)


def median_per_kind(calls: List[Dict[str, float]]) -> Dict[str, float]:
    """Seconds per kind of operation in each profiled call -> the median over the calls,
    largest first (what :meth:`DeployedModel.profile_ops` returns)."""
    kinds = {k for c in calls for k in c}
    medians = {k: statistics.median(c[k] for c in calls if k in c) for k in kinds}
    return dict(sorted(medians.items(), key=lambda kv: -kv[1]))


# ONNX Runtime's CPU kernels that multiply in integers
ORT_INTEGER_KERNELS = ('QLinearMatMul', 'QLinearConv', 'MatMulInteger', 'ConvInteger',
                       'MatMulIntegerToFloat', 'DynamicQuantizeMatMul', 'QGemm')


def count_ops(path: str, op_types: Sequence[str]) -> int:
    """How many nodes of ``op_types`` the ``.onnx`` file holds."""
    import onnx
    graph = onnx.load(path, load_external_data=False).graph
    return sum(n.op_type in op_types for n in graph.node)


def is_quantized(path: str) -> bool:
    """Whether the ``.onnx`` file holds quantized (QDQ or QOperator) nodes, or the OpenVINO IR
    ``.xml`` ``FakeQuantize`` ops."""
    if is_openvino_ir(path):
        return ir_is_quantized(path)
    return count_ops(path, ('DequantizeLinear', ) + ORT_INTEGER_KERNELS) > 0
