# COCO 1x (12 epochs, batch 16 = 8 GPUs x 2) for TNT detectors: AdamW, lr 1e-4, weight decay 0.05
# as MMDetection's Swin-T Mask R-CNN 1x, with layer-wise learning-rate decay over TNT's blocks
# (the stem trains slowest) and gradient clipping at norm 1, which that config does not use; no
# weight decay on norms, biases, position encodings and the class token. The decay rate and the
# parameter groups are logged when training starts.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='TNTLayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=dict(max_norm=1.0, norm_type=2))
