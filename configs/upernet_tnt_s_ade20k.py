# UperNet + TNT-S on ADE20K, 512x512 crops, 160k iterations, batch 16 (8 GPUs x 2), AdamW with
# layer-wise learning-rate decay - as mmseg's DeiT-S / Swin-T UperNet configs.
#
# TNTFeaturePyramid turns the stride-16 maps of blocks 3 / 5 / 7 / 11 into strides 4 / 8 / 16 / 32;
# TNT's stride-4 pixel-level tokens of block 11 also feed the stride-4 level.
# ImageNet weights: set `pretrained`, or pass
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmseg::_base_/models/upernet_r50.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

pretrained = None
crop_size = (512, 512)
tnt_arch = 's'
tnt_dims = 384  # TNT-S widths (patch / pixel tokens): every neck / head channel count follows
tnt_inner_dims = 24

model = dict(
    # TNT's normalisation: mean = std = 127.5 on 0-255 RGB pixels
    data_preprocessor=dict(size=crop_size, mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='TNTBackbone',
        arch=tnt_arch,
        out_indices=(3, 5, 7, 11),
        pixel_out_indices=(11, ),
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained) if pretrained else None),
    neck=dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
              pixel_channels=tnt_inner_dims),
    decode_head=dict(in_channels=[tnt_dims] * 4, num_classes=150),
    auxiliary_head=dict(in_channels=tnt_dims, in_index=2, num_classes=150),
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
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
