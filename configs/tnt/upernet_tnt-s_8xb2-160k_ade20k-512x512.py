# UperNet + TNT-S on ADE20K, 512x512 crops, 160k iterations, batch 16 (8 GPUs x 2), from the
# official ImageNet TNT-S weights. AdamW, lr 6e-5, weight decay 0.01, 1500 warm-up iterations and
# poly decay as mmseg's DeiT-S / Swin-T UperNet configs; the layer-wise lr decay 0.75 is mmtnt's
# choice (mmseg's BEiT / MAE UperNet configs decay by layer, its DeiT / Swin ones do not).
# Another checkpoint (path, URL, hf-hub id, any TNT-S layout):
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# From scratch: --cfg-options model.backbone.init_cfg=None
_base_ = [
    '../_base_/models/upernet_tnt_s.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]

pretrained = _base_.tnt_s_imagenet  # the official ImageNet TNT-S weights
crop_size = (512, 512)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    # `slide` runs 512x512 windows over the image; `whole` the image at once (any size)
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='TNTLayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# --auto-scale-lr scales the lr by (GPUs x 2) / 16 (mmseg's schedules name no base batch)
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
