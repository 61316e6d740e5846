"""Run a trained detector or segmentor on images and write pictures of its predictions.

    python tools/demo.py IMAGE_OR_DIR CONFIG CHECKPOINT [--out-dir outputs] [--score-thr 0.3]

Detection configs draw boxes (and masks for Mask R-CNN); segmentation configs draw the mask.
Pictures go to OUT_DIR/vis; predictions to OUT_DIR/preds (detection, json) or OUT_DIR/pred
(segmentation, label PNGs).
"""
import argparse

from mmengine.config import Config
from mmengine.logging import print_log


def parse_args():
    parser = argparse.ArgumentParser(description='Draw a model\'s predictions on images')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this')
    return parser.parse_args()


def main():
    args = parse_args()
    scope = Config.fromfile(args.config).get('default_scope')
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(model=args.config, weights=args.checkpoint, device=args.device)
        inferencer(args.inputs, out_dir=args.out_dir, pred_score_thr=args.score_thr,
                   no_save_pred=False)
    elif scope == 'mmseg':
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model=args.config, weights=args.checkpoint,
                                     device=args.device)
        inferencer(args.inputs, out_dir=args.out_dir)  # writes vis/ and pred/ under out_dir
    else:
        raise ValueError(f'{args.config} has default_scope={scope!r}; tools/demo.py runs mmdet '
                         f'and mmseg configs.')
    print_log(f'pictures written to {args.out_dir}/vis', logger='current')


if __name__ == '__main__':
    main()
