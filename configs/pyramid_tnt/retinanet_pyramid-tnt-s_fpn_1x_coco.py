# RetinaNet + PyramidTNT-S + FPN on COCO 2017, 1x, 1333x800 - the PyramidTNT paper's detection
# recipe (PyramidTNT-S: 42.0 box AP). The official ImageNet weights are published on BaiduDisk
# only (no direct URL); download `ptnt_s` there and pass it:
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=PATH
# (the official training-script checkpoint loads as it is, safely).
_base_ = [
    '../_base_/models/retinanet_pyramid_tnt_s.py', 'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/ptnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py',
    'mmdet::retinanet/retinanet_tta.py'
]
