# RetinaNet + PyramidTNT-S: the four stages (strides 8 / 16 / 32 / 64) feed the FPN directly,
# which adds stride 128 - RetinaNet's usual strides 8-128.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py', './pyramid_tnt_s.py']

ptnt_dims = _base_.ptnt_dims  # PyramidTNT-S stage widths: the FPN's inputs follow

model = dict(
    # PyramidTNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_base_.pyramid_tnt_s_backbone, _delete_=True),
    neck=dict(in_channels=ptnt_dims, start_level=0, add_extra_convs='on_input', num_outs=5))
