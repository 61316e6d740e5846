# UperNet-TNT on the built-in toy shapes set in ADE20K format (label 0 = ignore, reduce_zero_label;
# generated under data/toy_shapes on first use), trainable on a CPU. As in the detection configs,
# TNT's stride-4 pixel-level tokens also feed the finest (stride 4) pyramid level.
#
# To fit a 2-core CPU this uses a smaller TNT than TNT-S (4 blocks, 96 / 12 channels), 128x128
# images, a slimmer UperNet and BN instead of SyncBN; the structure is that of
# configs/upernet_tnt_s_ade20k.py, which it inherits.
_base_ = '../upernet_tnt_s_ade20k.py'

toy_arch = dict(embed_dims=96, inner_dims=12, num_layers=4, num_heads=4, inner_num_heads=2)
tnt_dims = toy_arch['embed_dims']  # every channel count below follows from it
crop_size = (128, 128)
max_iters = 3000
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(_delete_=True, type='TNTBackbone', arch=toy_arch, out_indices=(0, 1, 2, 3),
                  pixel_out_indices=(3, )),
    neck=dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
              pixel_channels=toy_arch['inner_dims']),
    decode_head=dict(in_channels=[tnt_dims] * 4, channels=64, num_classes=4, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=tnt_dims, channels=32, num_classes=4, norm_cfg=norm_cfg),
    test_cfg=dict(_delete_=True, mode='whole'))

dataset_type = 'ToyShapesSegDataset'
data_root = 'data/toy_shapes/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),  # colours carry no class here: no photometric distortion
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='ade/images/train',
                                  seg_map_path='ade/annotations/train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='ade/images/val', seg_map_path='ade/annotations/val'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters // 2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=200, end=max_iters, eta_min=1e-5),
]
# trained from scratch, so no layer-wise decay
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys=dict(
            patch_pos=dict(decay_mult=0.), pixel_pos=dict(decay_mult=0.),
            cls_token=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0, norm_type=2))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters // 2, max_keep_ckpts=2))
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
