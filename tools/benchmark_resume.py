"""Seconds from ``runner.train()`` of a resumed run to the end of its first iteration, against the
iteration it resumes from.

The config trains two iterations (a real checkpoint); copies of that checkpoint then claim
iterations N (``--iters``, the data position moved along: N x global batch samples, as a run
that reached N would have it) and a run resumes from each. ``--replay-iters`` also times
mmengine's own resume (``runner_type='Runner'``: it loads the N batches again) for those N.

    python tools/benchmark_resume.py configs/toy/retinanet_tnt_toy.py --iters 20 4000 40000 \\
        --replay-iters 20 400 2000

Iteration-based configs (an ``InfiniteSampler``), as the toy ones are.
"""
import argparse
import os.path as osp
import statistics
import tempfile
import time

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS, RUNNERS
from mmengine.runner import Runner

from mmtnt.checkpoint import load_checkpoint_safely
from mmtnt.engine import enable_long_run_safety
from mmtnt.engine.sample_stream import DATA_STATE_KEY


class _FirstIterationDone(Exception):
    pass


@HOOKS.register_module(name='BenchmarkStopAfterFirstIteration', force=True)
class _StopAfterFirstIteration(Hook):
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        raise _FirstIterationDone


def _config(path: str, work_dir: str, max_iters: int, runner_type: str) -> Config:
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = 10**9
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**9)
    cfg.visualizer = dict(type=cfg.visualizer.type, vis_backends=[dict(type='LocalVisBackend')])
    cfg.param_scheduler = []  # a schedule shorter than the claimed iterations
    enable_long_run_safety(cfg)
    cfg.runner_type = runner_type
    return cfg


def _build(cfg: Config) -> Runner:
    return RUNNERS.build(cfg)


def time_resume(config: str, work_dir: str, checkpoint: dict, iteration: int,
                runner_type: str) -> float:
    """Seconds to the end of the first iteration of a run resumed at ``iteration``."""
    checkpoint = dict(checkpoint, meta=dict(checkpoint['meta'], iter=iteration))
    hub = checkpoint['message_hub']
    info = dict(hub['runtime_info'])
    data = info.get(DATA_STATE_KEY)
    if data is not None:
        batch = data['batch_size'] * data['world_size']
        data = dict(data, ranks=[dict(r, drawn=iteration * batch // data['world_size'])
                                 for r in data['ranks']])
        info[DATA_STATE_KEY] = data
    checkpoint['message_hub'] = dict(hub, runtime_info=info)
    path = osp.join(work_dir, f'claimed_iter_{iteration}.pth')
    torch.save(checkpoint, path)
    cfg = _config(config, osp.join(work_dir, f'{runner_type}_{iteration}'), iteration + 10,
                  runner_type)
    cfg.resume, cfg.load_from = True, path
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='BenchmarkStopAfterFirstIteration')]
    start = time.perf_counter()
    runner = _build(cfg)
    try:
        runner.train()
    except _FirstIterationDone:
        pass
    seconds = time.perf_counter() - start
    del runner
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, nargs='+', default=[20, 4000, 40000])
    parser.add_argument('--replay-iters', type=int, nargs='*', default=[],
                        help="also time mmengine's resume (loads the N batches again)")
    parser.add_argument('--repeat', type=int, default=3,
                        help='rounds over all rows (interleaved; the median is reported), after '
                        'one resume not counted (imports, caches)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        runner = _build(_config(args.config, osp.join(work_dir, 'first'), 2, 'PreemptibleRunner'))
        runner.train()
        checkpoint = load_checkpoint_safely(osp.join(runner.work_dir, 'iter_2.pth'))
        del runner
        runs = [('PreemptibleRunner', n) for n in args.iters] + \
            [('Runner', n) for n in args.replay_iters]
        time_resume(args.config, work_dir, checkpoint, runs[0][1], runs[0][0])  # warm-up
        seconds = {run: [] for run in runs}
        for _ in range(args.repeat):
            for run in runs:
                seconds[run].append(time_resume(args.config, work_dir, checkpoint, run[1], run[0]))
    names = dict(PreemptibleRunner='mmtnt (PreemptibleRunner)',
                 Runner="mmengine's Runner (loads the batches again)")
    lines = ['| runner | resumed from iteration | seconds to the end of the first iteration '
             f'(median of {args.repeat}) |', '|---|---|---|']
    lines += [f'| {names[r]} | {n} | {statistics.median(seconds[(r, n)]):.1f} |'
              for r, n in runs]
    print_log('\n' + '\n'.join(lines), logger='current')


if __name__ == '__main__':
    main()
