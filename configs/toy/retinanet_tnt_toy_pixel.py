# The toy RetinaNet-TNT with the pixel-token adapter variant: TNT's stride-4 word tokens of the
# last block are projected into the finest pyramid level (stride 8 here).
_base_ = './retinanet_tnt_toy.py'

model = dict(
    backbone=dict(pixel_out_indices=(3, )),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels={{_base_.tnt_dims}}, scales=(2, 1, 0.5),
             pixel_channels={{_base_.toy_arch.inner_dims}}),
        dict(type='FPN', in_channels=[{{_base_.tnt_dims}}] * 3, out_channels={{_base_.fpn_dims}},
             start_level=0, add_extra_convs='on_input', num_outs=5),
    ])
