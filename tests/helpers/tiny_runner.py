"""A tiny mmengine run (a 2-layer MLP with dropout on data with random augmentation) for the
fault tests: it draws from torch's, numpy's and python's generators like a real run, and takes
well under a second an iteration.

Used in-process (:func:`build_runner`), as a script, for runs that must be killed or that run
in several processes::

    python tests/helpers/tiny_runner.py WORK_DIR [--max-iters N] [--resume]
        [--world-size 2 --rank R]

and through ``tools/train.py`` / ``tools/dist_train.sh`` with ``tests/helpers/tiny_config.py``
(its parts are registered under the names that config uses; ``tests`` must be on ``PYTHONPATH``:
the config imports ``helpers.tiny_runner``).
"""
import argparse
import os
import random
import signal
import stat
import sys
import time
import uuid

import numpy as np
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.dist import get_rank
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from torch.utils.data import Dataset

import mmtnt  # noqa: F401  registers the hooks, atomic writes and safe loading
from mmtnt.engine import PreemptibleRunner
from mmtnt.utils import distributed_session


@DATASETS.register_module(force=True)
class NoisyPoints(Dataset):
    """Fixed points whose every read adds numpy and python noise (an augmentation)."""

    def __init__(self, size: int = 24) -> None:
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(size, 4, generator=g)
        self.y = self.x.sum(1, keepdim=True)
        self.reads = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.reads += 1  # items made in this process (data-loader workers count their own)
        noise = np.random.normal(0, 0.1, 4).astype(np.float32) + random.random() * 0.01
        return dict(inputs=self.x[i] + torch.from_numpy(noise), targets=self.y[i], index=i)


@MODELS.register_module(force=True)
class TinyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, inputs, targets, index=None, mode='loss'):
        pred = self.net(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((pred - torch.stack(targets))**2).mean())
        return [dict(pred=p, target=t) for p, t in zip(pred, targets)]


@METRICS.register_module(name='TinyMeanError', force=True)
class MeanError(BaseMetric):
    default_prefix = 'tiny'

    def process(self, data_batch, data_samples):
        self.results += [float((s['pred'] - s['target']).abs()) for s in data_samples]

    def compute_metrics(self, results):
        return dict(error=sum(results) / len(results))


class SendSignal(Hook):
    """Send ``sig`` to this process in training iteration ``iteration`` (its before_train_iter:
    the signal lands in the middle of that iteration), or in validation batch ``val_batch`` of the
    validation that follows iteration ``iteration``; with ``again_in_save``, once more while the
    resulting checkpoint is being saved."""

    priority = 'HIGHEST'

    def __init__(self, iteration, val_batch=None, sig=signal.SIGTERM, again_in_save=False):
        self.iteration, self.val_batch, self.sig = iteration, val_batch, sig
        self.again_in_save = again_in_save
        self.sent = False

    def _send(self):
        os.kill(os.getpid(), self.sig)
        self.sent = True

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.val_batch is None and runner.iter == self.iteration and not self.sent:
            self._send()

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if (self.val_batch is not None and runner.iter == self.iteration
                and batch_idx == self.val_batch and not self.sent):
            self._send()

    def before_save_checkpoint(self, runner, checkpoint):
        if self.sent and self.again_in_save:
            os.kill(os.getpid(), self.sig)


class RecordSamples(Hook):
    """Append the dataset indices of every training batch to ``path`` (one line a batch)."""

    def __init__(self, path) -> None:
        self.path = path

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        with open(self.path, 'a') as f:
            f.write(' '.join(str(int(i)) for i in data_batch['index']) + '\n')


@HOOKS.register_module(force=True)
class TinyProgress(Hook):
    """Print ``rank R finished iteration N`` after every iteration and sleep ``sleep`` seconds
    (time for a test to send a signal from outside)."""

    def __init__(self, sleep: float = 0.) -> None:
        self.sleep = sleep

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        print(f'rank {get_rank()} finished iteration {runner.iter + 1}', flush=True)
        time.sleep(self.sleep)


@HOOKS.register_module(force=True)
class SignalGroupAt(Hook):
    """Send ``sig`` to this process's whole process group (its data-loader workers, and under a
    launcher the launcher and the other ranks), as a scheduler does: at ``before_run`` (while
    the run starts), at ``after_train`` (after the last iteration), or in training iteration
    ``iteration`` (0-based). Run the process in a session of its own."""

    priority = 'HIGHEST'

    def __init__(self, at='before_run', iteration: int = -1, sig: int = signal.SIGTERM) -> None:
        self.at, self.iteration, self.sig = at, iteration, sig

    def before_run(self, runner):
        if self.at == 'before_run':
            os.killpg(os.getpgrp(), self.sig)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.at == 'iteration' and runner.iter == self.iteration:
            os.killpg(os.getpgrp(), self.sig)

    def after_train(self, runner):
        if self.at == 'after_train':
            os.killpg(os.getpgrp(), self.sig)


def build_runner(work_dir, max_iters=12, by_epoch=False, resume=False, interval=4,
                 max_keep_ckpts=2, val_interval=None, hooks=(), distributed=False,
                 num_workers=0, amp=None, ema=False, val_size=24, checkpoint=None, batch_size=4,
                 runner_type=PreemptibleRunner, val_workers=None):
    """A Runner of the tiny run (``runner_type``: PreemptibleRunner, as tools/train.py runs
    it). ``by_epoch``: EpochBasedTrainLoop over 6 batches an epoch
    (``max_iters`` must then be a multiple of 6), else IterBasedTrainLoop. ``ema``: with
    mmengine's EMAHook. ``val_size``: validation points (batches of 4; in two processes an odd
    size gives the ranks different batch counts). ``checkpoint``: more SafeCheckpointHook
    arguments."""
    loader = dict(dataset=NoisyPoints(), batch_size=batch_size, num_workers=num_workers,
                  persistent_workers=num_workers > 0, collate_fn=dict(type='pseudo_collate'))
    val_workers = num_workers if val_workers is None else val_workers
    val_loader = dict(loader, dataset=NoisyPoints(val_size), num_workers=val_workers,
                      persistent_workers=val_workers > 0,
                      sampler=dict(type='DefaultSampler', shuffle=False, round_up=False))
    if by_epoch:
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_iters // 6,
                         val_interval=val_interval or 1000)
        sampler = dict(type='DefaultSampler', shuffle=True)
    else:
        train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                         val_interval=val_interval or 1000)
        sampler = dict(type='InfiniteSampler', shuffle=True)
    optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-2))
    if amp:
        optim_wrapper.update(type='AutocastOptimWrapper', dtype=amp)
    torch.manual_seed(0)  # the model is built before the Runner seeds: same weights every run
    return runner_type(
        model=TinyModel(),
        work_dir=str(work_dir),
        experiment_name=f'tiny_{uuid.uuid4().hex}',
        train_dataloader=dict(loader, sampler=sampler),
        val_dataloader=val_loader,
        val_evaluator=[MeanError()],
        optim_wrapper=optim_wrapper,
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False)],
        train_cfg=train_cfg,
        val_cfg=dict(),
        default_hooks=dict(
            checkpoint=dict(type='SafeCheckpointHook', interval=1 if by_epoch else interval,
                            by_epoch=by_epoch, max_keep_ckpts=max_keep_ckpts,
                            **(checkpoint or {})),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='PreemptionHook')] + list(hooks) +
        ([dict(type='EMAHook', momentum=0.2)] if ema else []),
        log_processor=dict(by_epoch=by_epoch),
        launcher='pytorch' if distributed else 'none',
        cfg=dict(model_wrapper_cfg=dict(type='CPUDistributedDataParallel')) if distributed else None,
        randomness=dict(seed=0, deterministic=True),
        resume=resume,
    )


def release_workers(runner) -> None:
    """Stop the data-loader worker processes a finished or stopped in-process run keeps
    (persistent workers, and an iteration-based loop's open iterator). Left to the garbage
    collector, a later test pays for them: their queues are gone by then, and each worker is
    joined until torch's 5 s timeout."""
    for loop in (runner._train_loop, runner._val_loop):
        loader = getattr(loop, 'dataloader', None)
        iterator = getattr(loader, '_iterator', None)
        if hasattr(iterator, '_shutdown_workers'):
            iterator._shutdown_workers()
            loader._iterator = None


def parameters(runner_or_model) -> dict:
    model = getattr(runner_or_model, 'model', runner_or_model)
    model = getattr(model, 'module', model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--max-iters', type=int, default=12)
    parser.add_argument('--interval', type=int, default=4)
    parser.add_argument('--max-keep-ckpts', type=int, default=2)
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--world-size', type=int, default=1)
    parser.add_argument('--rank', type=int, default=0)
    parser.add_argument('--slow', type=float, default=0., help='seconds to sleep an iteration')
    parser.add_argument('--val-interval', type=int, default=None)
    parser.add_argument('--val-size', type=int, default=24)
    parser.add_argument('--batch-size', type=int, default=4, help='per process')
    parser.add_argument('--stop-at', type=int, default=None,
                        help='rank 0 sends itself SIGTERM in this iteration (0-based)')
    parser.add_argument('--record', default=None,
                        help='append the sample indices of each training batch to RECORD.RANK')
    parser.add_argument('--signal-in-val', type=int, nargs=2, default=None,
                        metavar=('ITERATION', 'BATCH'),
                        help='this rank sends itself SIGTERM in that validation batch')
    parser.add_argument('--die-in-save', type=int, default=0,
                        help='SIGKILL this process while it writes its N-th checkpoint')
    args = parser.parse_args()
    hooks = []
    if args.slow:
        hooks.append(TinyProgress(args.slow))
    if args.signal_in_val:
        hooks.append(SendSignal(args.signal_in_val[0], val_batch=args.signal_in_val[1]))
    if args.stop_at is not None and args.rank == 0:
        hooks.append(SendSignal(args.stop_at))
    if args.record:
        hooks.append(RecordSamples(f'{args.record}.{args.rank}'))
    if args.die_in_save:
        import mmtnt.engine.atomic_io as safe_checkpoint
        saves = []
        real_fsync = os.fsync

        def dying_fsync(fd):  # the partial file holds the whole checkpoint, not yet renamed
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_size > 1000:  # a checkpoint
                saves.append(fd)
                if len(saves) == args.die_in_save:
                    os.kill(os.getpid(), signal.SIGKILL)
            real_fsync(fd)

        safe_checkpoint.os.fsync = dying_fsync
    distributed = args.world_size > 1
    if distributed:
        torch.distributed.init_process_group('gloo', rank=args.rank, world_size=args.world_size)
    runner = build_runner(args.work_dir, max_iters=args.max_iters, interval=args.interval,
                          max_keep_ckpts=args.max_keep_ckpts, resume=args.resume, hooks=hooks,
                          distributed=distributed, val_interval=args.val_interval,
                          val_size=args.val_size, batch_size=args.batch_size)
    with distributed_session():  # leaves the process group together, also after a stop
        runner.train()


if __name__ == '__main__':
    sys.exit(main())
