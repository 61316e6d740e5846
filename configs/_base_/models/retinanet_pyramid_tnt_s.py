# RetinaNet + PyramidTNT-S: the four stages (strides 8 / 16 / 32 / 64) feed the FPN directly,
# which adds stride 128 - RetinaNet's usual strides 8-128.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

ptnt_dims = [128, 256, 512, 512]  # PyramidTNT-S stage widths: the FPN's inputs follow

model = dict(
    # PyramidTNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        _delete_=True,
        type='PyramidTNT',
        arch='s',
        out_indices=(0, 1, 2, 3),
        final_norm=True,
        drop_path_rate=0.1),
    neck=dict(in_channels=ptnt_dims, start_level=0, add_extra_convs='on_input', num_outs=5))
