from .amp import AutocastOptimWrapper, amp_optim_wrapper_type
from .layer_decay import TNTLayerDecayOptimizerConstructor, tnt_layer_id
from .long_runs import enable_long_run_safety
from .preemption import PREEMPTED_EXIT_CODE, PreemptionHook
from .safe_checkpoint import (AtomicLocalBackend, CheckpointUnreadableError, SafeCheckpointHook,
                              atomic_write, checkpoint_problem, find_resumable_checkpoint,
                              register_atomic_local_backend)

__all__ = [
    'AtomicLocalBackend', 'AutocastOptimWrapper', 'CheckpointUnreadableError',
    'PREEMPTED_EXIT_CODE', 'PreemptionHook', 'SafeCheckpointHook',
    'TNTLayerDecayOptimizerConstructor', 'amp_optim_wrapper_type', 'atomic_write',
    'checkpoint_problem', 'enable_long_run_safety', 'find_resumable_checkpoint',
    'register_atomic_local_backend', 'tnt_layer_id'
]
