# UperNet + PyramidTNT-S on ADE20K, 512x512 crops, 160k iterations, batch 16 (8 GPUs x 2), AdamW.
# The four stages (strides 8 / 16 / 32 / 64) feed UperNet directly. ImageNet weights: see
# retinanet_pyramid-tnt-s_fpn_1x_coco.py.
_base_ = [
    '../_base_/models/upernet_pyramid_tnt_s.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

crop_size = (512, 512)

model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    # `slide` runs 512x512 windows over the image; `whole` the image at once (any size)
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
