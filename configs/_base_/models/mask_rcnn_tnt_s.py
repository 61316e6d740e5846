# Mask R-CNN + TNT-S: TNTFeaturePyramid turns TNT-S's stride-16 map into strides 4 / 8 / 16 / 32
# for the FPN; the stride-4 level also receives TNT's own pixel-level tokens.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './tnt_s.py']

tnt_dims, tnt_inner_dims = _base_.tnt_dims, _base_.tnt_inner_dims  # every channel count follows

model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_base_.tnt_s_backbone, _delete_=True, out_indices=(11, ),
                  pixel_out_indices=(11, )),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
             pixel_channels=tnt_inner_dims),
        dict(type='FPN', in_channels=[tnt_dims] * 4, out_channels=256, num_outs=5),
    ])
