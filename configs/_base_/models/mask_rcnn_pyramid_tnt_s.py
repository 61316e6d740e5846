# Mask R-CNN + PyramidTNT-S + FPN. PyramidTNT's finest stage is stride 8, so the FPN runs at
# strides 8-128 (not 4-64): RPN anchors of 4 x stride keep Mask R-CNN's usual anchor sizes
# (32-512 px), and RoIs are pooled from strides 8-64.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './pyramid_tnt_s.py']

ptnt_dims = _base_.ptnt_dims  # PyramidTNT-S stage widths: the FPN's inputs follow

model = dict(
    # PyramidTNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_base_.pyramid_tnt_s_backbone, _delete_=True),
    neck=dict(in_channels=ptnt_dims, num_outs=5),
    rpn_head=dict(anchor_generator=dict(scales=[4], strides=[8, 16, 32, 64, 128])),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=[8, 16, 32, 64]),
                  mask_roi_extractor=dict(featmap_strides=[8, 16, 32, 64])))
