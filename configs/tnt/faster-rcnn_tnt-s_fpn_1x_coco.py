# The TNT paper's detection recipe (Han et al. 2021, appendix, Table 13: TNT-S 41.5 box AP):
# Faster R-CNN + FPN, COCO 2017, 1x (12 epochs, batch 16 = 8 GPUs x 2), from ImageNet TNT-S, with
# the paper's multi-block adapter (configs/_base_/models/faster_rcnn_tnt_s.py).
_base_ = [
    '../_base_/models/faster_rcnn_tnt_s.py', 'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/tnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

pretrained = _base_.tnt_s_imagenet  # the official ImageNet TNT-S weights

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
