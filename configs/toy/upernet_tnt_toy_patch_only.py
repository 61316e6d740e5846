# The toy UperNet-TNT with the patch-map-only adapter (no pixel-level tokens), for comparison
# with the default, which feeds TNT's stride-4 word tokens into the stride-4 level.
_base_ = './upernet_tnt_toy.py'

model = dict(
    backbone=dict(pixel_out_indices=()),
    neck=dict(pixel_channels=None))
