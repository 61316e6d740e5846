"""Deployment: ONNX export of TNT detectors and segmentors, and ONNX Runtime inference."""
from .export import check_onnx, default_check_sizes, default_shape, export_onnx
from .graph import (AdaptiveAvgPoolAsMatmul, adaptive_pool_weights, build_graph,
                    make_pooling_exportable, model_task)
from .runtime import OnnxRuntimeModel

__all__ = [
    'AdaptiveAvgPoolAsMatmul', 'OnnxRuntimeModel', 'adaptive_pool_weights', 'build_graph',
    'check_onnx', 'default_check_sizes', 'default_shape', 'export_onnx',
    'make_pooling_exportable', 'model_task'
]
