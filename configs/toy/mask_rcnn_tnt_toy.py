# Mask R-CNN-TNT on the built-in toy shapes set (boxes and instance masks), trainable on a CPU:
# the model of configs/tnt/mask-rcnn_tnt-s_fpn_1x_coco.py with the toy TNT (4 blocks, 96 / 12
# channels), 128x128 images and slimmer heads, trained from scratch.
#
# The toy shapes are 15-60 px: COCO's RPN anchors (8 x stride: 32 px at stride 4 up to 512 px)
# miss most of them, so the anchors here are 4 x stride (16 px at stride 4, 32 at 8, ...).
# RoIs are pooled from the level that matches their size: COCO's rule (finest_scale=56) would send
# every toy RoI (all under 112 px) to the stride-4 level, which is only a deconvolved copy of TNT's
# stride-16 map; with finest_scale=16, 15-60 px RoIs spread over strides 4-16.
# Trained from scratch, the FPN and the RoI heads use GroupNorm (He et al., "Rethinking ImageNet
# Pre-training"; mmdet's scratch/*gn-all* configs). finest_scale=16 and GroupNorm together let the
# RoI classifier learn within this schedule; with COCO's rule it predicted "background" for every
# RoI, with or without GroupNorm. The RoI heads, trained from scratch on 400 images, learn slowest:
# they train at 3x the learning rate of the backbone, FPN and RPN. Their convolutions are 32
# channels wide, because they are what an iteration costs once the RPN finds the shapes (4 convs
# over 512 RoIs at 7x7, 4 over up to 128 positives at 14x14), and 1400 iterations then fit a CPU
# budget of about a quarter of an hour. Runs from scratch vary (no fixed seed): the spread of bbox
# and segm mAP is in docs/advanced/speed.md#toy-training-runs.
_base_ = [
    '../_base_/models/mask_rcnn_tnt_s.py', '../_base_/datasets/toy_shapes_instance.py',
    '../_base_/schedules/toy_scratch_3k.py', 'mmdet::_base_/default_runtime.py'
]

toy_arch = dict(embed_dims=96, inner_dims=12, num_layers=4, num_heads=4, inner_num_heads=2)
tnt_dims = toy_arch['embed_dims']  # every channel count below follows from it
fpn_dims = 64
head_dims = 32  # channels of the RoI heads' convolutions
gn = dict(type='GN', num_groups=16, requires_grad=True)
max_iters = 1400  # 0.55-0.8 s an iteration on a 2-core CPU, with the machine's load

model = dict(
    backbone=dict(_delete_=True, type='TNTBackbone', arch=toy_arch, out_indices=(3, ),
                  pixel_out_indices=(3, )),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
             pixel_channels=toy_arch['inner_dims']),
        dict(type='FPN', in_channels=[tnt_dims] * 4, out_channels=fpn_dims, num_outs=5,
             norm_cfg=gn),
    ],
    rpn_head=dict(in_channels=fpn_dims, feat_channels=fpn_dims,
                  anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_dims, finest_scale=16),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=fpn_dims,
                       conv_out_channels=head_dims, fc_out_channels=256, num_classes=3,
                       norm_cfg=gn),
        mask_roi_extractor=dict(out_channels=fpn_dims, finest_scale=16),
        mask_head=dict(in_channels=fpn_dims, conv_out_channels=head_dims, num_classes=3,
                       norm_cfg=gn)),
    # 1-4 objects per 128x128 image: far fewer proposals and sampled RoIs than COCO needs
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)  # one evaluation, at the end
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(roi_head=dict(lr_mult=3.0))))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=200, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters // 2, max_keep_ckpts=2))  # halfway, end
log_processor = dict(by_epoch=False)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
