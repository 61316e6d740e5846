# Trans2Seg + TNT-S on ADE20K: the TNT paper's segmentation recipe (Trans2Seg framework, TNT-S
# 43.6 mIoU against DeiT-S 40.5, published), from the official ImageNet TNT-S weights. Where the
# papers state no setting, the choice is marked "chosen"; the whole list is in
# configs/trans2seg/README.md.
# Another checkpoint (path, URL, hf-hub id, any TNT-S layout):
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# From scratch: --cfg-options model.backbone.init_cfg=None
_base_ = [
    '../_base_/models/trans2seg_tnt_s.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

pretrained = _base_.tnt_s_imagenet  # the official ImageNet TNT-S weights
crop_size = (512, 512)  # Trans2Seg's training size

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # `slide` runs 512x512 windows over the image (chosen, as mmseg's ConvNeXt UperNet configs);
    # `whole` the image at once (any size: the head resamples its position grid)
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# Trans2Seg's optimiser: Adam, lr 1e-4, weight decay 1e-4, the head at 10x the backbone's rate,
# poly decay (power 0.9); the 1500-iteration linear warm-up is chosen (as the other ADE20K
# configs); 160k iterations of batch 16 (8 GPUs x 2) chosen: mmseg's ADE20K schedule
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# --auto-scale-lr scales the lr by (GPUs x 2) / 16 (mmseg's schedules name no base batch)
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
