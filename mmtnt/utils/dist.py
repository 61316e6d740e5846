"""Distributed training on CPU-only machines with mmengine 0.10.7's pytorch launcher.

mmengine's launcher calls ``torch.cuda.set_device(local_rank)`` and wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; both fail without a GPU. When no GPU is present, mmtnt starts the
gloo process group itself (mmengine then skips its own init) and wraps the model with
:class:`CPUDistributedDataParallel`. With a GPU nothing changes.
"""
import os
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm

from mmtnt.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """MMDistributedDataParallel for CPU processes: DDP without ``device_ids``.

    DDP refuses SyncBatchNorm on CPU modules ("SyncBatchNorm layers only work with GPU modules";
    MMSegmentation's decode heads use it), so such layers become BatchNorm: each process
    normalises with its own batch statistics.
    """

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        synced = [n for n, m in module.named_modules() if 'SyncBatchNorm' in type(m).__name__]
        if synced:
            module = revert_sync_batchnorm(module)
            print_log(f'CPU DDP: {len(synced)} SyncBatchNorm layers run as BatchNorm (per-process '
                      f'statistics).', logger='current')
        super().__init__(module=module, device_ids=None, **kwargs)


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` (launched by torchrun) for gloo training when no GPU is available.

    Returns:
        True if the CPU path was taken.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                      world_size=int(os.environ['WORLD_SIZE']))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='CPUDistributedDataParallel')
    if wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['type'] = 'CPUDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    print_log(f'No GPU: distributed training on CPU with gloo, rank {torch_dist.get_rank()} of '
              f'{torch_dist.get_world_size()}.', logger='current')
    return True


@contextmanager
def distributed_session() -> Iterator[None]:
    """Wrap a tool's run so that every process leaves the process group together.

    Without it, a rank whose peers have exited while its gloo threads still hold connections can
    abort at interpreter exit ("terminate called without an active exception", SIGABRT), failing a
    run whose work had finished. A barrier, then ``destroy_process_group``, closes the group on all
    ranks before any of them exits. A run stopped by :class:`~mmtnt.engine.PreemptionHook` (all
    ranks together, after a barrier) leaves the group the same way. Nothing happens in a
    non-distributed run.
    """
    try:
        yield
    except SystemExit:
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
        raise
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
