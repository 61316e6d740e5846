"""Test (evaluate) a trained detector or segmentor (mmdet's tools/test.py interface).

    python tools/test.py CONFIG CHECKPOINT [--backend {pytorch,onnxruntime,openvino}]
        [--precision {fp32,bf16,int8}] [--model FILE.onnx] [--calib N]

With a backend other than pytorch the model is exported on the fly (or taken from --model),
quantized for int8 on the first N training images, and evaluated by the same test loop and
metrics; the median seconds per image of the backend call is logged beside the metrics.
"""
import argparse
import os

from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmtnt.deploy.backends import (BACKENDS, DEFAULT_CALIB, PRECISIONS, check_backend_args,
                                   deploy_model, use_in_runner)
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
                        'int8 from an earlier run) instead of exporting into the work dir')
    parser.add_argument('--calib', type=int, default=DEFAULT_CALIB,
                        help=f'training images that calibrate int8 (default {DEFAULT_CALIB})')
    parser.add_argument('--num-threads', type=int, help='backend threads (default: its own)')
    add_common_args(parser, 'test_dataloader.batch_size=2')
    return parse_tool_args(parser)


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
        if args.backend == 'pytorch':
            runner.test()
            return
        runner.load_or_resume()  # the checkpoint's weights, then export / quantize them
        os.makedirs(runner.work_dir, exist_ok=True)
        deployed = deploy_model(runner.model, cfg, args.backend, args.precision, args.model,
                                args.calib, runner.work_dir, args.num_threads)
        use_in_runner(runner, deployed)
        metrics = runner.test()
        seconds = deployed.seconds_per_image()
        hint = getattr(deployed, 'hint', None)
        print_log(f'{args.backend} {deployed.precision}'
                  f'{f" (INFERENCE_PRECISION_HINT={hint})" if hint else ""} on {cpu_name()}: '
                  f'{seconds:.4f} s/image (median over {len(deployed.timings)} batches, the '
                  f'backend call alone, first left out) | {metrics}', logger='current')


if __name__ == '__main__':
    main()
