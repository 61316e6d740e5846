"""Test (evaluate) a trained detector or segmentor (mmdet's tools/test.py interface).

    python tools/test.py CONFIG CHECKPOINT [--backend {pytorch,onnxruntime,openvino}]
        [--precision {fp32,bf16,int8}] [--model FILE.onnx|FILE.xml] [--calib N]

With a backend other than pytorch the model is exported on the fly (or taken from --model),
quantized for int8 on the first N training images, and evaluated by the same test loop and
metrics. Every backend, PyTorch included, logs beside the metrics the median seconds per image
of the test step after its data preprocessing (network and post-processing, the first batch
left out); a deployed backend also logs its call alone (the network).
"""
import argparse
import os

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmtnt.deploy.backends import (BACKENDS, DEFAULT_CALIB, PRECISIONS, check_backend_args,
                                   deploy_model, use_in_runner)
from mmtnt.deploy.timing import PredictionTimer, describe_timing
from mmtnt.utils import (add_common_args, distributed_session, load_tool_config, parse_tool_args,
                         setup_cpu_distributed, setup_prediction_outputs)
from mmtnt.utils.cpu_features import cpu_name


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
    parser.add_argument('--backend', choices=BACKENDS, default='pytorch',
                        help='run the model in PyTorch (default) or exported, in ONNX Runtime or '
                        'OpenVINO on the CPU')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='fp32; bf16 (OpenVINO, CPUs with avx512_bf16 / AMX); int8 '
                        '(post-training quantization, calibrated on --calib training images)')
    parser.add_argument('--model', help='an exported .onnx (tools/export_onnx.py --dynamic, or '
                        'int8 from an earlier run) or, for OpenVINO, the int8 IR .xml an earlier '
                        'run wrote, instead of exporting into the work dir')
    parser.add_argument('--calib', type=int, default=DEFAULT_CALIB,
                        help=f'training images that calibrate int8 (default {DEFAULT_CALIB})')
    parser.add_argument('--num-threads', type=int, help='backend threads (default: its own)')
    add_common_args(parser, 'test_dataloader.batch_size=2')
    return parse_tool_args(parser)


class DeployAtTestStart(Hook):
    """Exports (or opens ``--model``) and quantizes the model once the test has loaded the
    checkpoint and the other hooks have prepared it (EMAHook swaps its averaged weights in at
    ``before_test_epoch``), then makes the test loop predict through the backend."""

    def __init__(self, cfg, args) -> None:
        self.cfg, self.args, self.deployed = cfg, args, None

    def before_test_epoch(self, runner) -> None:
        args = self.args
        if args.model:
            print_log(f'--model {args.model}: the weights are the file\'s, not those of '
                      f'{args.checkpoint} (export it with tools/export_onnx.py from the '
                      f'checkpoint you mean to test).', logger='current', level=30)
        os.makedirs(runner.work_dir, exist_ok=True)
        model = runner.model.cpu()  # the backends run on the CPU, on CPU tensors
        self.deployed = deploy_model(model, self.cfg, args.backend, args.precision, args.model,
                                     args.calib, runner.work_dir, args.num_threads)
        use_in_runner(runner, self.deployed)


def main():
    args = parse_args()
    check_backend_args(args.backend, args.precision, args.model, args.calib, args.launcher)
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    setup_prediction_outputs(cfg, out=args.out, show=args.show, show_dir=args.show_dir,
                       wait_time=args.wait_time)
    setup_cpu_distributed(cfg)
    with distributed_session():
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        deploy = None
        if args.backend != 'pytorch':
            deploy = DeployAtTestStart(cfg, args)
            runner.register_hook(deploy, priority='LOWEST')
        timer = PredictionTimer()  # after DeployAtTestStart: it times the deployed test_step
        runner.register_hook(timer, priority='LOWEST')
        metrics = runner.test()
        print_log(f'{describe_run(timer.device, deploy)}: {timer.describe()} | {metrics}',
                  logger='current')
        if deploy is not None:
            deployed = deploy.deployed
            alone = describe_timing(deployed.seconds_per_image(), len(deployed.timings),
                                    'the backend call alone: the network')
            print_log(f'{args.backend} {deployed.precision}: {alone}', logger='current')


def describe_run(device, deploy) -> str:
    """What ran the network: ``pytorch fp32 on CPU_NAME`` (or the GPU's name), ``openvino int8
    (INFERENCE_PRECISION_HINT=f32) on CPU_NAME``."""
    if deploy is None:
        where = torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_name()
        return f'pytorch fp32 on {where}'
    deployed = deploy.deployed
    hint = getattr(deployed, 'hint', None)
    return (f'{deployed.backend} {deployed.precision}'
            f'{f" (INFERENCE_PRECISION_HINT={hint})" if hint else ""} on {cpu_name()}')


if __name__ == '__main__':
    main()
