# RetinaNet + TNT-S: TNT-S gives one stride-16 map; TNTFeaturePyramid turns it into strides
# 8 / 16 / 32 for the FPN, which adds 64 / 128 on top (as MMDetection's Swin-T RetinaNet does with
# start_level=0). The finest level also receives TNT's own stride-4 pixel-level tokens
# (pixel_out_indices / pixel_channels): on the toy set this beat the patch-map-only adapter.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py', './tnt_s.py']

tnt_dims, tnt_inner_dims = _base_.tnt_dims, _base_.tnt_inner_dims  # every channel count follows

model = dict(
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_base_.tnt_s_backbone, _delete_=True, out_indices=(11, ),
                  pixel_out_indices=(11, )),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(2, 1, 0.5),
             pixel_channels=tnt_inner_dims),
        dict(type='FPN', in_channels=[tnt_dims] * 3, out_channels=256, start_level=0,
             add_extra_convs='on_input', num_outs=5),
    ])
