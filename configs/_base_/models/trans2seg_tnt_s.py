# Trans2Seg + TNT-S: the transformer head reads the stride-16 patch map of block 11 (out_indices
# count from 0: the 12th, last block); its stride-4 pixel tokens (TNT's visual words) are the fine
# map fused into the masks, where Trans2Seg takes ResNet's stride-4 stage - no neck. Head sizes:
# Trans2Seg's "medium" (the official default: width 256, 4 encoder + 4 decoder layers, 8 heads,
# MLP ratio 3, mask head 64).
_base_ = './tnt_s.py'

tnt_dims, tnt_inner_dims = _base_.tnt_dims, _base_.tnt_inner_dims  # the head's in_channels follow
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    type='EncoderDecoder',
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    pretrained=None,
    backbone=dict(_base_.tnt_s_backbone, out_indices=(11, ), pixel_out_indices=(11, )),
    decode_head=dict(
        type='Trans2SegHead',
        in_channels=(tnt_inner_dims, tnt_dims),
        in_index=(1, 0),  # backbone outputs: (patch map, pixel map) -> (fine, coarse)
        channels=64,
        embed_dims=256,
        num_layers=4,
        num_heads=8,
        mlp_ratio=3.,
        pos_grid=(32, 32),  # 512x512 crops / 16
        dropout_ratio=0.,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False),  # loss: BaseDecodeHead's default, cross-entropy
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
