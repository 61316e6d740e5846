# The TNT paper's DETR recipe (Han et al. 2021, Table 10: TNT-S 38.2 AP): DETR with a TNT-S
# backbone, COCO 2017, 50 epochs, AdamW, batch 16 (8 GPUs x 2), shorter side 640-800. TNT's output
# (stride 16, after the final norm) is 2x2-average-pooled to stride 32, as in the paper.
# MMDetection has no DETR model base: the backbone comes from configs/_base_/models/tnt_s.py.
_base_ = ['mmdet::detr/detr_r50_8xb2-150e_coco.py', '../_base_/models/tnt_s.py']

pretrained = _base_.tnt_s_imagenet  # the official ImageNet TNT-S weights
tnt_dims = _base_.tnt_dims
max_epochs = 50

model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(_base_.tnt_s_backbone, _delete_=True, out_indices=(11, ),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(0.5, ), downsample='avgpool'),
        dict(type='ChannelMapper', in_channels=[tnt_dims], kernel_size=1, out_channels=256,
             act_cfg=None, norm_cfg=None, num_outs=1),
    ])

# shorter side 640-800 (the paper), in both of DETR's augmentation branches
scales = [(s, 1333) for s in range(640, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice',
         transforms=[
             [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
             [
                 dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
                      keep_ratio=True),
                 dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                      allow_negative_crop=True),
                 dict(type='RandomChoiceResize', scales=scales, keep_ratio=True),
             ],
         ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)
]
