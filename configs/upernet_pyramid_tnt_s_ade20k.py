# UperNet + PyramidTNT-S on ADE20K, 512x512 crops, 160k iterations, batch 16 (8 GPUs x 2), AdamW.
# The four stages (strides 8 / 16 / 32 / 64) feed UperNet directly. ImageNet weights: see
# retinanet_pyramid_tnt_s_fpn_1x_coco.py.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

crop_size = (512, 512)
ptnt_dims = [128, 256, 512, 512]

model = dict(
    data_preprocessor=dict(size=crop_size, mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    pretrained=None,
    backbone=dict(_delete_=True, type='PyramidTNT', arch='s', out_indices=(0, 1, 2, 3),
                  final_norm=True, drop_path_rate=0.1),
    decode_head=dict(in_channels=ptnt_dims, num_classes=150),
    auxiliary_head=dict(in_channels=ptnt_dims[2], in_index=2, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0.,
        custom_keys=dict(outer_pos=dict(decay_mult=0.), inner_pos=dict(decay_mult=0.),
                         relative_pos=dict(decay_mult=0.))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# --auto-scale-lr scales the lr by (GPUs x 2) / 16 (mmseg's schedules name no base batch)
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
