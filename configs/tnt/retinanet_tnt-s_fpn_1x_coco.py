# RetinaNet + TNT-S on COCO 2017, 1x schedule (12 epochs, batch 16 = 8 GPUs x 2), from the
# official ImageNet TNT-S weights (81.5 top-1; downloaded once into the torch.hub cache and read
# with mmtnt's safe loading). Another checkpoint (path, URL, hf-hub id, any TNT-S layout):
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# From scratch: --cfg-options model.backbone.init_cfg=None
_base_ = [
    '../_base_/models/retinanet_tnt_s.py', 'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/tnt_adamw_1x.py', 'mmdet::_base_/default_runtime.py',
    'mmdet::retinanet/retinanet_tta.py'
]

pretrained = _base_.tnt_s_imagenet  # the official ImageNet TNT-S weights

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
