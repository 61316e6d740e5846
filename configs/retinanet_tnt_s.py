# RetinaNet + TNT-S on COCO 2017, 1x schedule (12 epochs, batch 16 = 8 GPUs x 2).
#
# TNT-S gives one stride-16 map; TNTFeaturePyramid turns it into strides 8 / 16 / 32 for the
# FPN, which adds 64 / 128 on top (as the Swin / PVT RetinaNet configs do with start_level=0).
# The finest level also receives TNT's own stride-4 pixel-level tokens (pixel_out_indices /
# pixel_channels): on the toy set this beat the patch-map-only adapter (README).
# ImageNet weights: set `pretrained` below, or pass
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=PATH
# Any TNT-S layout loads (official, timm, mmpretrain, mmtnt); see README.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

pretrained = None
tnt_arch = 's'
tnt_dims = 384  # TNT-S widths (patch / pixel tokens): every neck channel count below follows
tnt_inner_dims = 24

model = dict(
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        _delete_=True,
        type='TNTBackbone',
        arch=tnt_arch,
        out_indices=(11, ),
        pixel_out_indices=(11, ),
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained) if pretrained else None),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(2, 1, 0.5),
             pixel_channels=tnt_inner_dims),
        dict(type='FPN', in_channels=[tnt_dims] * 3, out_channels=256, start_level=0,
             add_extra_convs='on_input', num_outs=5),
    ])

# AdamW as in the PVT / Swin configs, with layer-wise learning-rate decay over TNT's blocks (the
# stem trains slowest); no weight decay on norms, biases, position encodings and the class token.
# The decay rate and parameter groups are logged at start.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='TNTLayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=dict(max_norm=1.0, norm_type=2))
