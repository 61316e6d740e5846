# Trans2Seg-TNT on the built-in toy shapes set in ADE20K format, trainable on a CPU: the model of
# configs/trans2seg/trans2seg_tnt-s_8xb2-160k_ade20k-512x512.py with the toy UperNet's TNT
# (4 blocks, 96 / 12 channels), a smaller Trans2Seg head (the sizes of Trans2Seg's
# trans2seg_small.yaml: width 128, 1 + 1 layers, 4 heads, MLP ratio 2, mask head 32) and BN,
# trained from scratch on the toy UperNet's data and schedule. The fine map is the last block's
# stride-4 pixel tokens, as in the full config.
_base_ = './upernet_tnt_toy.py'

norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    backbone=dict(out_indices=(3, ), pixel_out_indices=(3, )),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='Trans2SegHead',
        in_channels=({{_base_.toy_arch.inner_dims}}, {{_base_.tnt_dims}}),  # pixel, patch tokens
        in_index=(1, 0),
        channels=32,
        embed_dims=128,
        num_layers=1,
        num_heads=4,
        mlp_ratio=2.,
        pos_grid=(8, 8),  # 128x128 images / 16
        dropout_ratio=0.,
        num_classes=4,
        norm_cfg=norm_cfg),  # loss: BaseDecodeHead's default, cross-entropy
    auxiliary_head=None)

# no weight decay on the head's position grid and class prototypes either
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(
    pos_embed=dict(decay_mult=0.), prototypes=dict(decay_mult=0.))))
