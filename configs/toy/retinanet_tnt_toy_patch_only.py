# The toy RetinaNet-TNT with the patch-map-only adapter (no pixel-level tokens): the comparison
# point for the default, which also feeds TNT's stride-4 word tokens into the finest level.
_base_ = './retinanet_tnt_toy.py'

model = dict(
    backbone=dict(pixel_out_indices=()),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels={{_base_.tnt_dims}}, scales=(2, 1, 0.5)),
        dict(type='FPN', in_channels=[{{_base_.tnt_dims}}] * 3, out_channels={{_base_.fpn_dims}},
             start_level=0, add_extra_convs='on_input', num_outs=5),
    ])
