# Semantic FPN + TNT-S on ADE20K: the UperNet config's backbone, adapter, data and schedule, with
# mmseg's FPN neck and FPNHead in place of UperNet.
_base_ = './upernet_tnt-s_8xb2-160k_ade20k-512x512.py'

model = dict(
    neck=[
        dict(type='TNTFeaturePyramid', in_channels={{_base_.tnt_dims}}, scales=(4, 2, 1, 0.5),
             pixel_channels={{_base_.tnt_inner_dims}}),
        dict(type='FPN', in_channels=[{{_base_.tnt_dims}}] * 4, out_channels=256, num_outs=4),
    ],
    decode_head=dict(
        _delete_=True,
        type='FPNHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
