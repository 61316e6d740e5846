"""Train a detector or segmentor from an mmdet / mmseg config (mmdet's tools/train.py interface)."""
import argparse

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmtnt.engine import amp_optim_wrapper_type, catch_stop_signals, enable_long_run_safety
from mmtnt.utils import (add_common_args, cpu_bf16_missing, distributed_session, load_tool_config,
                         parse_tool_args, setup_cpu_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 with dynamic loss scaling on CUDA, '
                        'bfloat16 on a CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual / base batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a path, from the latest one in the work dir')
    parser.add_argument(
        '--accept-batch-change', action='store_true',
        help='resume a checkpoint trained with another global batch (GPUs x batch per GPU x '
        'accumulative_counts) at its sample position; the schedule in iterations is not rescaled')
    add_common_args(parser, 'train_cfg.max_iters=100')
    return parse_tool_args(parser)


def main():
    # from the start: a stop signal while the run is being built is noted, and the run stops
    # (status 75) before its first iteration instead of dying
    catch_stop_signals()
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if args.amp and amp_optim_wrapper_type() == 'AutocastOptimWrapper' and cpu_bf16_missing():
        raise ValueError(f'--amp without CUDA trains under bfloat16 autocast, but '
                         f'{cpu_bf16_missing()}. Train without --amp (float32), or on a CPU with '
                         f'avx512_bf16 / AMX (Arm: bf16), or on a GPU.')
    if args.amp and wrapper_type == 'OptimWrapper':
        cfg.optim_wrapper.type = amp_optim_wrapper_type()
        cfg.optim_wrapper.loss_scale = 'dynamic'
    elif args.amp and wrapper_type not in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper (or an AMP one), the config '
                         f'has {wrapper_type}.')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError(f'--auto-scale-lr: {args.config} names no batch size its lr was set '
                             f'for; add `auto_scale_lr = dict(base_batch_size=N)` (N = GPUs x '
                             f'batch per GPU of the schedule) to the config.')
        cfg.auto_scale_lr.enable = True
    load_from_if_fresh = None
    if args.resume == 'auto':  # the work dir's newest complete checkpoint, else load_from
        cfg.resume = True
        load_from_if_fresh, cfg.load_from = cfg.get('load_from'), None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    enable_long_run_safety(cfg, load_from_if_fresh)
    if args.accept_batch_change:
        checkpoint = cfg.default_hooks.checkpoint
        if not str(checkpoint.get('type')).endswith('SafeCheckpointHook'):
            raise ValueError(f'--accept-batch-change is an option of SafeCheckpointHook; the '
                             f'config\'s checkpoint hook is {checkpoint.get("type")}.')
        checkpoint.accept_batch_change = True
    setup_cpu_distributed(cfg)
    with distributed_session():  # a stop by PreemptionHook exits with PREEMPTED_EXIT_CODE
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.train()


if __name__ == '__main__':
    main()
