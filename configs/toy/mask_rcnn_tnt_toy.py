# Mask R-CNN-TNT on the built-in toy shapes set (boxes and instance masks), trainable on a CPU.
# Same smaller TNT and 128x128 images as retinanet_tnt_toy.py; the structure is that of
# configs/mask_rcnn_tnt_s.py, which it inherits.
_base_ = '../mask_rcnn_tnt_s.py'

toy_arch = dict(embed_dims=96, inner_dims=12, num_layers=4, num_heads=4, inner_num_heads=2)
tnt_dims = toy_arch['embed_dims']  # every channel count below follows from it
fpn_dims = 64
max_iters = 1500  # ~0.44 s an iteration on a 2-core CPU: about 11 minutes
img_scale = (128, 128)

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(_delete_=True, type='TNTBackbone', arch=toy_arch, out_indices=(3, ),
                  pixel_out_indices=(3, )),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
             pixel_channels=toy_arch['inner_dims']),
        dict(type='FPN', in_channels=[tnt_dims] * 4, out_channels=fpn_dims, num_outs=5),
    ],
    rpn_head=dict(in_channels=fpn_dims, feat_channels=fpn_dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_dims),
        bbox_head=dict(in_channels=fpn_dims, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(out_channels=fpn_dims),
        mask_head=dict(in_channels=fpn_dims, conv_out_channels=fpn_dims, num_classes=3)),
    # 1-4 objects per 128x128 image: far fewer proposals and sampled RoIs than COCO needs
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))

dataset_type = 'ToyShapesCocoDataset'
data_root = 'data/toy_shapes/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 ann_file='coco/instances_train.json', data_prefix=dict(img='coco/train/'),
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 ann_file='coco/instances_val.json', data_prefix=dict(img='coco/val/'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'coco/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters // 2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=200, end=max_iters, eta_min=1e-5),
]
# trained from scratch, so no layer-wise decay
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys=dict(
            patch_pos=dict(decay_mult=0.), pixel_pos=dict(decay_mult=0.),
            cls_token=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0, norm_type=2))
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters // 2, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
