# The toy UperNet-TNT with the pixel-token adapter variant: TNT's stride-4 word tokens of the
# last block are projected into the finest (stride 4) pyramid level.
_base_ = './upernet_tnt_toy.py'

model = dict(
    backbone=dict(pixel_out_indices=(3, )),
    neck=dict(pixel_channels={{_base_.toy_arch.inner_dims}}))
