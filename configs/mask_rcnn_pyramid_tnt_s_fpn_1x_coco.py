# Mask R-CNN + PyramidTNT-S + FPN on COCO 2017, 1x. PyramidTNT's finest stage is stride 8, so the
# FPN runs at strides 8-128 (not 4-64): RPN anchors of 4 x stride keep Mask R-CNN's usual anchor
# sizes (32-512 px), and RoIs are pooled from strides 8-64. ImageNet weights: see
# retinanet_pyramid_tnt_s_fpn_1x_coco.py.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_instance.py',
    './_base_/schedules/ptnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_delete_=True, type='PyramidTNT', arch='s', out_indices=(0, 1, 2, 3),
                  final_norm=True, drop_path_rate=0.1),
    neck=dict(in_channels=[128, 256, 512, 512], num_outs=5),
    rpn_head=dict(anchor_generator=dict(scales=[4], strides=[8, 16, 32, 64, 128])),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=[8, 16, 32, 64]),
                  mask_roi_extractor=dict(featmap_strides=[8, 16, 32, 64])))
