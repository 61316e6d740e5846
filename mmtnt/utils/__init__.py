from .cpu_features import cpu_bf16_missing, cpu_bf16_support
from .dist import CPUDistributedDataParallel, distributed_session, setup_cpu_distributed
from .prediction_outputs import setup_prediction_outputs
from .tool_config import add_common_args, build_model, load_tool_config, parse_tool_args

__all__ = [
    'CPUDistributedDataParallel', 'add_common_args', 'build_model', 'cpu_bf16_missing',
    'cpu_bf16_support', 'distributed_session', 'load_tool_config', 'parse_tool_args',
    'setup_cpu_distributed', 'setup_prediction_outputs'
]
