from .dist import CPUDistributedDataParallel, setup_cpu_distributed
from .test_outputs import setup_test_outputs
from .tool_config import load_tool_config

__all__ = [
    'CPUDistributedDataParallel', 'load_tool_config', 'setup_cpu_distributed', 'setup_test_outputs'
]
