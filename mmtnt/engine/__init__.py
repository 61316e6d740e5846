from .amp import AutocastOptimWrapper, amp_optim_wrapper_type
from .atomic_io import AtomicLocalBackend, atomic_write, register_atomic_local_backend
from .checkpoint_hook import SafeCheckpointHook
from .layer_decay import TNTLayerDecayOptimizerConstructor, tnt_layer_id
from .long_runs import enable_long_run_safety
from .preemption import (PREEMPTED_EXIT_CODE, STOP_FILE_ENV, PreemptibleRunner, PreemptionHook,
                         catch_stop_signals)
from .resume import CheckpointUnreadableError, checkpoint_problem, find_resumable_checkpoint

__all__ = [
    'AtomicLocalBackend', 'AutocastOptimWrapper', 'CheckpointUnreadableError',
    'PREEMPTED_EXIT_CODE', 'PreemptibleRunner', 'PreemptionHook', 'STOP_FILE_ENV',
    'SafeCheckpointHook', 'TNTLayerDecayOptimizerConstructor', 'amp_optim_wrapper_type',
    'atomic_write', 'catch_stop_signals', 'checkpoint_problem', 'enable_long_run_safety',
    'find_resumable_checkpoint', 'register_atomic_local_backend', 'tnt_layer_id'
]
