# Mask R-CNN + TNT-S on COCO 2017, 1x schedule (12 epochs, batch 16 = 8 GPUs x 2), from the
# official ImageNet TNT-S weights. Another checkpoint or from scratch: see
# retinanet_tnt-s_fpn_1x_coco.py.
_base_ = [
    '../_base_/models/mask_rcnn_tnt_s.py', 'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/tnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

pretrained = _base_.tnt_s_imagenet  # the official ImageNet TNT-S weights

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
