"""Evaluate a deployed model with the runner's own test loop (``tools/test.py --backend``).

:func:`check_backend_args` refuses what cannot give an honest figure before anything is built;
:func:`deploy_model` exports (or takes) the ONNX file, quantizes it for int8 and opens it in the
backend; :func:`use_in_runner` makes the runner's model predict through it, so the test loop and
the evaluator, and so the metrics, are exactly those of ``--backend pytorch``.
"""
import os.path as osp
import types
from typing import Optional

import torch.nn as nn
from mmengine.logging import print_log

from .export import default_shape, export_onnx
from .graph import model_task
from .openvino_runtime import OpenVINOModel, check_bf16_cpu
from .quantize import calibration_batches, quantize_int8
from .quantize_openvino import is_openvino_ir, quantize_openvino_int8
from .runtime import DeployedModel, OnnxRuntimeModel, is_quantized

BACKENDS = ('pytorch', 'onnxruntime', 'openvino')
PRECISIONS = ('fp32', 'bf16', 'int8')
# images of the train set that calibrate int8 (tools/test.py --calib): see mmtnt.deploy.quantize
DEFAULT_CALIB = 32


def check_backend_args(backend: str,
                       precision: str,
                       model_file: Optional[str] = None,
                       calib: int = DEFAULT_CALIB,
                       launcher: str = 'none') -> None:
    """Raise ``ValueError`` with the reason for a combination that cannot run as labelled.

    - bf16 on ONNX Runtime (its CPU provider has no bfloat16 kernels for these graphs), or on a
      CPU without native bfloat16 (:func:`mmtnt.deploy.check_bf16_cpu`);
    - int8 from a float ``--model`` with ``--calib 0`` (nothing to calibrate on), and a
      quantized ``--model`` under fp32 / bf16;
    - an OpenVINO IR ``--model`` (``.xml``) in ONNX Runtime, or a float one under int8 (int8
      is quantized from the ONNX export);
    - a non-PyTorch backend under a distributed launcher (one process evaluates);
    - ``--model`` / ``--precision`` other than fp32 with the PyTorch backend.
    """
    if backend not in BACKENDS or precision not in PRECISIONS:
        raise ValueError(f'--backend {backend} --precision {precision}: choose the backend from '
                         f'{BACKENDS} and the precision from {PRECISIONS}.')
    if backend == 'pytorch':
        if precision != 'fp32' or model_file:
            raise ValueError('--precision and --model are for --backend onnxruntime / openvino; '
                             '--backend pytorch evaluates the checkpoint in float32.')
        return
    if launcher != 'none':
        raise ValueError(f'--backend {backend} runs in one process (the backend uses every core '
                         f'itself), not under --launcher {launcher}: run python tools/test.py '
                         f'directly (tools/dist_test.sh and slurm_test.sh add --launcher).')
    if precision == 'bf16':
        if backend == 'onnxruntime':
            raise ValueError('--precision bf16 is for --backend openvino: ONNX Runtime\'s CPU '
                             'provider has no bfloat16 kernels for these graphs (it would run '
                             'float32 or fail). Use --backend openvino --precision bf16.')
        check_bf16_cpu()
    if model_file:
        if not osp.isfile(model_file):
            raise ValueError(f'--model {model_file}: no such file (write one with '
                             f'tools/export_onnx.py --dynamic).')
        quantized = is_quantized(model_file)
        if is_openvino_ir(model_file):
            if backend != 'openvino':
                raise ValueError(f'--model {model_file} is an OpenVINO IR: run it with '
                                 f'--backend openvino (ONNX Runtime takes the .onnx export).')
            if not quantized and precision == 'int8':
                raise ValueError(f'--model {model_file} is a float OpenVINO IR: int8 is '
                                 f'quantized from the .onnx export (tools/export_onnx.py '
                                 f'--dynamic), or pass an IR quantized by an earlier run.')
        if quantized and precision != 'int8':
            raise ValueError(f'--model {model_file} is quantized (int8): pass --precision int8.')
        if not quantized and precision == 'int8' and calib <= 0:
            raise ValueError(f'--precision int8 with the float --model {model_file} needs '
                             f'calibration images: --calib N (default {DEFAULT_CALIB}), or a '
                             f'quantized --model.')
    elif precision == 'int8' and calib <= 0:
        raise ValueError(f'--precision int8 needs calibration images: --calib N (default '
                         f'{DEFAULT_CALIB}).')


def deploy_model(model: nn.Module,
                 cfg,
                 backend: str,
                 precision: str = 'fp32',
                 model_file: Optional[str] = None,
                 calib: int = DEFAULT_CALIB,
                 work_dir: str = '.',
                 num_threads: Optional[int] = None) -> DeployedModel:
    """The checkpoint-loaded ``model`` in ``backend`` at ``precision``.

    Without ``model_file`` the model is exported into ``work_dir`` at the config's test size with
    dynamic batch, height and width; int8 quantizes the float file on the first ``calib``
    training images (:func:`mmtnt.deploy.quantize.calibration_batches`): for ONNX Runtime into
    a QDQ ``.onnx`` (:func:`mmtnt.deploy.quantize_int8`), for OpenVINO into an IR ``.xml`` by
    NNCF (:func:`mmtnt.deploy.quantize_openvino_int8`).

    Raises:
        ValueError: a model mmtnt does not export (its reason), or what
            :func:`check_backend_args` refuses.
    """
    check_backend_args(backend, precision, model_file, calib)
    model_task(model)  # two-stage detectors, DETR: refused with the reason
    test_cfg = getattr(model, 'test_cfg', None) or {}
    if test_cfg.get('mode', 'whole') != 'whole':
        raise ValueError(f'model.test_cfg.mode={test_cfg["mode"]!r}: the exported segmentor '
                         f'runs whole images; evaluate with --cfg-options '
                         f'model.test_cfg.mode=whole (or --backend pytorch).')
    model.eval()
    path = model_file
    if path is None:
        shape = default_shape(cfg)
        if shape is None:
            raise ValueError('the config names no test image size to export at: export with '
                             'tools/export_onnx.py --shape H W --dynamic and pass --model.')
        path = osp.join(work_dir, 'deploy_fp32.onnx')
        export_onnx(model, path, shape, dynamic=True)
    if precision == 'int8' and not is_quantized(path):
        batches = calibration_batches(cfg, model, calib)
        if backend == 'openvino':  # attention products included: mmtnt.deploy.quantize_openvino
            int8_path = osp.join(work_dir, f'deploy_int8_openvino_calib{calib}.xml')
            quantize_openvino_int8(path, int8_path, batches)
        else:
            int8_path = osp.join(work_dir, f'deploy_int8_calib{calib}.onnx')
            quantize_int8(path, int8_path, batches)
        path = int8_path
    if backend == 'onnxruntime':
        return OnnxRuntimeModel(path, model=model, num_threads=num_threads)
    return OpenVINOModel(path, model=model, precision='bf16' if precision == 'bf16' else 'fp32',
                         num_threads=num_threads)


def use_in_runner(runner, deployed: DeployedModel) -> None:
    """Make ``runner.model.test_step`` predict through ``deployed`` (the test loop, hooks and
    evaluator stay as they are)."""

    def test_step(self, data):
        return deployed.predict(data)

    runner.model.test_step = types.MethodType(test_step, runner.model)
    hint = getattr(deployed, 'hint', None)
    print_log(f'test_step runs in {deployed.backend} ({deployed.precision}'
              f'{f", INFERENCE_PRECISION_HINT={hint}" if hint else ""})', logger='current')
