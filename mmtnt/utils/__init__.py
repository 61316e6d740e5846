from .dist import CPUDistributedDataParallel, setup_cpu_distributed
from .test_outputs import setup_test_outputs

__all__ = ['CPUDistributedDataParallel', 'setup_cpu_distributed', 'setup_test_outputs']
