# Mask R-CNN + PyramidTNT-S + FPN on COCO 2017, 1x (12 epochs, batch 16 = 8 GPUs x 2). The FPN
# runs at strides 8-128 (configs/_base_/models/mask_rcnn_pyramid_tnt_s.py says why). ImageNet
# weights: see retinanet_pyramid-tnt-s_fpn_1x_coco.py.
_base_ = [
    '../_base_/models/mask_rcnn_pyramid_tnt_s.py', 'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/ptnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]
