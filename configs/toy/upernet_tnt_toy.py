# UperNet-TNT on the built-in toy shapes set in ADE20K format (label 0 = ignore, reduce_zero_label;
# generated under data/toy_shapes on first use), trainable on a CPU. As in the detection configs,
# TNT's stride-4 pixel-level tokens also feed the finest (stride 4) pyramid level.
#
# The model of configs/tnt/upernet_tnt-s_8xb2-160k_ade20k-512x512.py with a smaller TNT (4 blocks,
# 96 / 12 channels), 128x128 images, a slimmer UperNet and BN instead of SyncBN, trained from
# scratch.
_base_ = [
    '../_base_/models/upernet_tnt_s.py', '../_base_/datasets/toy_shapes_ade.py',
    '../_base_/schedules/toy_scratch_3k.py', 'mmseg::_base_/default_runtime.py'
]

toy_arch = dict(embed_dims=96, inner_dims=12, num_layers=4, num_heads=4, inner_num_heads=2)
tnt_dims = toy_arch['embed_dims']  # every channel count below follows from it
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size={{_base_.crop_size}}),
    backbone=dict(_delete_=True, type='TNTBackbone', arch=toy_arch, out_indices=(0, 1, 2, 3),
                  pixel_out_indices=(3, )),
    neck=dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
              pixel_channels=toy_arch['inner_dims']),
    decode_head=dict(in_channels=[tnt_dims] * 4, channels=64, num_classes=4, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=tnt_dims, channels=32, num_classes=4, norm_cfg=norm_cfg),
    test_cfg=dict(_delete_=True, mode='whole'))

optim_wrapper = dict(optimizer=dict(lr=2e-3))  # segmentation trained best at twice the rate
# mmseg keeps its hooks in the schedule files, which the toy schedule replaces: all listed here
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1500,  # halfway, end
                    max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
