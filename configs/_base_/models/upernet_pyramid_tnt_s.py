# UperNet + PyramidTNT-S: the four stages (strides 8 / 16 / 32 / 64) feed UperNet directly; the
# auxiliary FCN head reads the stride-32 stage.
_base_ = ['mmseg::_base_/models/upernet_r50.py', './pyramid_tnt_s.py']

ptnt_dims = _base_.ptnt_dims  # PyramidTNT-S stage widths: the heads' inputs follow

model = dict(
    # PyramidTNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    pretrained=None,
    backbone=dict(_base_.pyramid_tnt_s_backbone, _delete_=True),
    decode_head=dict(in_channels=ptnt_dims),
    auxiliary_head=dict(in_channels=ptnt_dims[2], in_index=2))
