# RetinaNet + TNT-S: TNT-S gives one stride-16 map; TNTFeaturePyramid turns it into strides
# 8 / 16 / 32 for the FPN, which adds 64 / 128 on top (as the Swin / PVT RetinaNet configs do with
# start_level=0). The finest level also receives TNT's own stride-4 pixel-level tokens
# (pixel_out_indices / pixel_channels): on the toy set this beat the patch-map-only adapter.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

tnt_dims = 384  # TNT-S widths (patch / pixel tokens): every neck channel count below follows
tnt_inner_dims = 24

model = dict(
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
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
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(2, 1, 0.5),
             pixel_channels=tnt_inner_dims),
        dict(type='FPN', in_channels=[tnt_dims] * 3, out_channels=256, start_level=0,
             add_extra_convs='on_input', num_outs=5),
    ])
