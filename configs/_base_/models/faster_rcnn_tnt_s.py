# Faster R-CNN + TNT-S with the TNT paper's multi-block adapter: the features of blocks 2 / 5 / 8 /
# 11 (out_indices count from 0: the paper's 3rd / 6th / 9th / 12th, all at stride 16) become
# strides 4 / 8 / 16 / 32 with deconvolutions (x4, x2), the identity and a convolution (/2), as the
# paper describes. The paper adds no pixel-level tokens; to add them as the other TNT-S model
# bases do, set backbone pixel_out_indices=(11, ) and the adapter's pixel_channels=24.
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py', './tnt_s.py']

tnt_dims = _base_.tnt_dims  # every neck channel count follows

model = dict(
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_base_.tnt_s_backbone, _delete_=True,
                  out_indices=(2, 5, 8, 11)),  # the 3rd / 6th / 9th / 12th blocks
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
             downsample='conv'),
        dict(type='FPN', in_channels=[tnt_dims] * 4, out_channels=256, num_outs=5),
    ])
