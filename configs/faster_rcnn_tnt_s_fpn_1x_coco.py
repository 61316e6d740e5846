# The TNT paper's detection recipe (Han et al. 2021, appendix, Table 13: TNT-S 41.5 box AP):
# Faster R-CNN + FPN, COCO 2017, 1x (12 epochs, batch 16 = 8 GPUs x 2), from ImageNet TNT-S.
# The features of blocks 3 / 6 / 9 / 12 (all at stride 16) become strides 4 / 8 / 16 / 32 with
# deconvolutions (x4, x2), the identity and a convolution (/2), as the paper describes. The paper
# adds no pixel-level tokens; to add them as the other mmtnt configs do, set
# backbone pixel_out_indices=(11, ) and the adapter's pixel_channels=24.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_detection.py',
    './_base_/schedules/tnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

pretrained = 'https://github.com/huawei-noah/Efficient-AI-Backbones/releases/download/tnt/tnt_s_81.5.pth.tar'  # noqa: E501
tnt_dims = 384

model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        _delete_=True,
        type='TNTBackbone',
        arch='s',
        out_indices=(2, 5, 8, 11),  # blocks 3 / 6 / 9 / 12
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=[
        dict(type='TNTFeaturePyramid', in_channels=tnt_dims, scales=(4, 2, 1, 0.5),
             downsample='conv'),
        dict(type='FPN', in_channels=[tnt_dims] * 4, out_channels=256, num_outs=5),
    ])
