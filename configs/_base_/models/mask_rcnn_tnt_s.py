# Mask R-CNN + TNT-S: TNTFeaturePyramid turns TNT-S's stride-16 map into strides 4 / 8 / 16 / 32
# for the FPN; the stride-4 level also receives TNT's own pixel-level tokens.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

tnt_dims = 384  # TNT-S widths (patch / pixel tokens): every neck channel count below follows
tnt_inner_dims = 24

model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        _delete_=True,
        type='TNTBackbone',
        arch='s',
        out_indices=(11, ),
        pixel_out_indices=(11, ),
        final_norm=True,
        drop_path_rate=0.1),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
             pixel_channels=tnt_inner_dims),
        dict(type='FPN', in_channels=[tnt_dims] * 4, out_channels=256, num_outs=5),
    ])
