"""Shipped configs take two training steps in each of the processes this script runs in
(launched by torchrun; gloo on a CPU), on generated data in the config's own format: COCO for
the full detection configs, ADE20K for the full segmentation configs, the toy set for the toy
ones. The full configs train at a small input size, with their own model, optimizer, schedule,
DDP settings (``find_unused_parameters``) and samplers; no pretrained download.

    python tests/helpers/multiprocess_configs.py DATA_DIR   # generates the data once
    torchrun --nproc_per_node 2 tests/helpers/multiprocess_configs.py DATA_DIR WORK_DIR CONFIG...

prints ``trained CONFIG: ITERS iterations ...`` for each config on each rank.
"""
import json
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np
from mmengine.registry import RUNNERS

from mmtnt.datasets import ensure_toy_shapes
from mmtnt.engine import enable_long_run_safety
from mmtnt.utils import distributed_session, load_tool_config, setup_cpu_distributed

IMAGES = 8  # 2 ranks x batch 2 x 2 iterations: one epoch of an epoch-based config
SIZE = (128, 160)  # (h, w) of the generated images and of the training input
CROP = (96, 96)  # segmentation crops


def make_data(data_dir: str) -> None:
    """COCO, ADE20K and the toy set under ``data_dir`` (before the processes start)."""
    make_coco(osp.join(data_dir, 'coco'))
    make_ade20k(osp.join(data_dir, 'ade'))
    ensure_toy_shapes(osp.join(data_dir, 'toy'))


def make_coco(root: str) -> None:
    """COCO's layout and 80 categories: IMAGES images with two boxes / polygons each."""
    from mmdet.datasets import CocoDataset
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CocoDataset.METAINFO['classes'])]
    for split in ('train2017', 'val2017'):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(IMAGES):
            name = f'{i:012d}.jpg'
            cv2.imwrite(osp.join(root, split, name),
                        rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8))
            images.append(dict(id=i, file_name=name, height=SIZE[0], width=SIZE[1]))
            for j in range(2):
                x, y = float(rng.uniform(0, SIZE[1] - 60)), float(rng.uniform(0, SIZE[0] - 60))
                w, h = float(rng.uniform(36, 60)), float(rng.uniform(36, 60))
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=i, category_id=int(rng.integers(1, 81)),
                    bbox=[x, y, w, h], area=w * h, iscrowd=0,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def make_ade20k(root: str) -> None:
    """ADE20K's layout: IMAGES images and label PNGs (0 = ignore, 1..150 the classes)."""
    rng = np.random.default_rng(0)
    for split in ('training', 'validation'):
        for kind in ('images', 'annotations'):
            os.makedirs(osp.join(root, kind, split), exist_ok=True)
        for i in range(IMAGES):
            name = f'ADE_{split}_{i:08d}'
            cv2.imwrite(osp.join(root, 'images', split, name + '.jpg'),
                        rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8))
            label = rng.integers(0, 151, (SIZE[0] // 16, SIZE[1] // 16), dtype=np.uint8)
            cv2.imwrite(osp.join(root, 'annotations', split, name + '.png'),
                        cv2.resize(label, SIZE[::-1], interpolation=cv2.INTER_NEAREST))


def small_inputs(node):
    """A pipeline at SIZE: every resize scale and crop size replaced."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ('scale', 'img_scale') and isinstance(v, (tuple, list)):
                out[k] = SIZE[::-1]
            elif k == 'scales':
                out[k] = [SIZE[::-1]]
            elif k == 'crop_size':
                out[k] = CROP
            else:
                out[k] = small_inputs(v)
        return type(node)(out)
    if isinstance(node, (list, tuple)):
        return type(node)(small_inputs(v) for v in node)
    return node


def config_for_test(path: str, data_dir: str, work_dir: str):
    cfg = load_tool_config(path, 'pytorch', None, osp.join(work_dir, osp.basename(path)[:-3]))
    toy = '/toy/' in path
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
        dataset = dataset.dataset
    dataset.data_root = osp.join(data_dir, 'toy' if toy else 'coco' if cfg.default_scope ==
                                 'mmdet' else 'ade', '')
    if not toy:
        cfg.model.backbone.init_cfg = None  # no download
        dataset.pipeline = small_inputs(dataset.pipeline)
        if 'size' in cfg.model.data_preprocessor:  # mmseg pads to the crop size
            cfg.model.data_preprocessor.size = CROP
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    if cfg.train_cfg.type == 'EpochBasedTrainLoop':
        cfg.train_cfg.max_epochs = 1
    else:
        cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 10**6
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**6, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.pop('visualization', None)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.load_from = None
    cfg.experiment_name = osp.basename(path)[:-3]
    enable_long_run_safety(cfg)
    return cfg


def main():
    if len(sys.argv) == 2:
        make_data(sys.argv[1])
        return
    data_dir, work_dir, configs = sys.argv[1], sys.argv[2], sys.argv[3:]
    with distributed_session():
        for path in configs:
            start = time.perf_counter()
            cfg = config_for_test(path, data_dir, work_dir)
            setup_cpu_distributed(cfg)
            runner = RUNNERS.build(cfg)
            runner.train()
            print(f'trained {osp.basename(path)}: {runner.iter} iterations, find_unused_parameters='
                  f'{cfg.model_wrapper_cfg.find_unused_parameters} '
                  f'({time.perf_counter() - start:.1f} s)', flush=True)


if __name__ == '__main__':
    main()
