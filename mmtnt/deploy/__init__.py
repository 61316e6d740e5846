"""Deployment: ONNX export of TNT detectors and segmentors; inference in ONNX Runtime and OpenVINO,
float or int8 (post-training quantization: ONNX Runtime's for ONNX Runtime, NNCF for OpenVINO)."""
from .export import check_onnx, default_check_sizes, default_shape, export_onnx
from .graph import (AdaptiveAvgPoolAsMatmul, adaptive_pool_weights, build_graph,
                    make_pooling_exportable, model_task)
from .openvino_runtime import OpenVINOModel, check_bf16_cpu
from .quantize import calibration_batches, quantizable_nodes, quantize_int8
from .quantize_openvino import quantize_openvino_int8
from .runtime import DeployedModel, OnnxRuntimeModel, is_quantized

__all__ = [
    'AdaptiveAvgPoolAsMatmul', 'DeployedModel', 'OnnxRuntimeModel', 'OpenVINOModel',
    'adaptive_pool_weights', 'build_graph', 'calibration_batches', 'check_bf16_cpu',
    'check_onnx', 'default_check_sizes', 'default_shape', 'export_onnx', 'is_quantized',
    'make_pooling_exportable', 'model_task', 'quantizable_nodes', 'quantize_int8',
    'quantize_openvino_int8'
]
