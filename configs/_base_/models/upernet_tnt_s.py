# UperNet + TNT-S: TNTFeaturePyramid turns the stride-16 maps of blocks 3 / 5 / 7 / 11 (out_indices
# count from 0: 11 is the 12th, last block) into strides 4 / 8 / 16 / 32; TNT's stride-4
# pixel-level tokens of block 11 also feed the stride-4 level.
_base_ = ['mmseg::_base_/models/upernet_r50.py', './tnt_s.py']

tnt_dims, tnt_inner_dims = _base_.tnt_dims, _base_.tnt_inner_dims  # every channel count follows

model = dict(
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    pretrained=None,
    backbone=dict(_base_.tnt_s_backbone, _delete_=True, out_indices=(3, 5, 7, 11),
                  pixel_out_indices=(11, )),
    neck=dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
              pixel_channels=tnt_inner_dims),
    decode_head=dict(in_channels=[tnt_dims] * 4),
    auxiliary_head=dict(in_channels=tnt_dims, in_index=2))
