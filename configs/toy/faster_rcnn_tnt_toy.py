# Faster R-CNN-TNT on the built-in toy shapes set with the TNT paper's multi-block adapter, as
# configs/tnt/faster-rcnn_tnt-s_fpn_1x_coco.py: the features of every block of the toy TNT
# (blocks 0 / 1 / 2 / 3, all four, as the paper takes the 3rd / 6th / 9th / 12th of 12), all at
# stride 16, become strides 4 / 8 / 16 / 32 with deconvolutions (x4, x2), the identity and a
# strided convolution (/2); no pixel-level tokens, as in the paper.
# Everything else - anchors, RoI sizes and levels, GroupNorm, sampling, RoI-head learning rate,
# schedule - is the toy Mask R-CNN's (configs/toy/mask_rcnn_tnt_toy.py, which says why), without
# its mask branch, trained from scratch on boxes only.
_base_ = './mask_rcnn_tnt_toy.py'

model = dict(
    type='FasterRCNN',
    backbone=dict(out_indices=(0, 1, 2, 3), pixel_out_indices=()),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels={{_base_.tnt_dims}}, scales=(4, 2, 1, 0.5),
             downsample='conv'),
        dict(type='FPN', in_channels=[{{_base_.tnt_dims}}] * 4, out_channels={{_base_.fpn_dims}},
             num_outs=5, norm_cfg={{_base_.gn}}),
    ],
    roi_head=dict(mask_roi_extractor=None, mask_head=None))

# the toy Mask R-CNN's data: the masks its pipelines load go unused; boxes are evaluated
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
