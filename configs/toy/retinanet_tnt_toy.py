# RetinaNet-TNT on the built-in toy shapes set (generated under data/toy_shapes on first use):
# the whole path - data, training, checkpoints, TensorBoard logs, COCO evaluation - on a CPU.
#
# The model of configs/tnt/retinanet_tnt-s_fpn_1x_coco.py with a smaller TNT to fit a 2-core CPU
# (4 blocks, 96 / 12 channels instead of 12 blocks, 384 / 24), 128x128 images and a slimmer FPN /
# head, trained from scratch.
_base_ = [
    '../_base_/models/retinanet_tnt_s.py', '../_base_/datasets/toy_shapes_detection.py',
    '../_base_/schedules/toy_scratch_3k.py', 'mmdet::_base_/default_runtime.py'
]

toy_arch = dict(embed_dims=96, inner_dims=12, num_layers=4, num_heads=4, inner_num_heads=2)
tnt_dims = toy_arch['embed_dims']  # every channel count below follows from it
fpn_dims = 64

model = dict(
    backbone=dict(_delete_=True, type='TNTBackbone', arch=toy_arch, out_indices=(3, ),
                  pixel_out_indices=(3, )),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(2, 1, 0.5),
             pixel_channels=toy_arch['inner_dims']),
        dict(type='FPN', in_channels=[tnt_dims] * 3, out_channels=fpn_dims, start_level=0,
             add_extra_convs='on_input', num_outs=5),
    ],
    bbox_head=dict(num_classes=3, in_channels=fpn_dims, feat_channels=fpn_dims, stacked_convs=2,
                   anchor_generator=dict(octave_base_scale=3)),
    test_cfg=dict(nms_pre=300, max_per_img=20))

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=1500, max_keep_ckpts=2))  # halfway, end
log_processor = dict(by_epoch=False)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
