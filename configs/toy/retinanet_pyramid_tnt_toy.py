# RetinaNet-PyramidTNT on the built-in toy shapes set, trainable on a CPU: the model of
# configs/pyramid_tnt/retinanet_pyramid-tnt-s_fpn_1x_coco.py with a smaller PyramidTNT (stages of
# 1 / 2 / 2 / 1 blocks, 48-192 channels instead of 2 / 8 / 4 / 2, 128-512), position tables at
# 128x128, and the same data, schedule and head as the toy RetinaNet-TNT, trained from scratch.
_base_ = [
    '../_base_/models/retinanet_pyramid_tnt_s.py', '../_base_/datasets/toy_shapes_detection.py',
    '../_base_/schedules/toy_scratch_3k.py', 'mmdet::_base_/default_runtime.py'
]

toy_arch = dict(depths=[1, 2, 2, 1], outer_dims=[48, 96, 192, 192], inner_dims=[4, 8, 16, 16],
                outer_heads=[1, 2, 4, 4], inner_heads=[1, 2, 4, 4])
fpn_dims = 64

model = dict(
    backbone=dict(_delete_=True, type='PyramidTNT', arch=toy_arch, pretrain_img_size=128,
                  out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=toy_arch['outer_dims'], out_channels=fpn_dims),
    bbox_head=dict(num_classes=3, in_channels=fpn_dims, feat_channels=fpn_dims, stacked_convs=2,
                   anchor_generator=dict(octave_base_scale=3)),
    test_cfg=dict(nms_pre=300, max_per_img=20))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(
    outer_pos=dict(decay_mult=0.), inner_pos=dict(decay_mult=0.),
    relative_pos=dict(decay_mult=0.))))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=1500, max_keep_ckpts=2))  # halfway, end
log_processor = dict(by_epoch=False)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
