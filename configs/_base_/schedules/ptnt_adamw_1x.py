# COCO 1x (12 epochs, batch 16 = 8 GPUs x 2) for PyramidTNT detectors, as the PyramidTNT paper
# trains RetinaNet: AdamW, lr 1e-4, weight decay 0.05; no weight decay on norms, biases, position
# encodings and the relative position biases.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0.,
        custom_keys=dict(outer_pos=dict(decay_mult=0.), inner_pos=dict(decay_mult=0.),
                         relative_pos=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0, norm_type=2))
