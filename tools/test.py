"""Test (evaluate) a trained detector or segmentor (mmdet's tools/test.py interface)."""
import argparse

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmtnt.utils import (add_common_args, distributed_session, load_tool_config, parse_tool_args,
                         setup_cpu_distributed, setup_prediction_outputs)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to this pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show prediction results in a window')
    parser.add_argument('--show-dir', help='save pictures of the predictions into this folder: '
                        'for detection relative to the work dir\'s timestamped subfolder (as '
                        'mmdet), for segmentation as given, under vis_data/vis_image (as mmseg)')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds between shown images')
    add_common_args(parser, 'test_dataloader.batch_size=2')
    return parse_tool_args(parser)


def main():
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    setup_prediction_outputs(cfg, out=args.out, show=args.show, show_dir=args.show_dir,
                       wait_time=args.wait_time)
    setup_cpu_distributed(cfg)
    with distributed_session():
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.test()


if __name__ == '__main__':
    main()
