# The toy configs' schedule: 3000 iterations of batch 8 from scratch on the built-in toy set, a
# higher learning rate than fine-tuning, warm-up then cosine decay, evaluation halfway and at the
# end. Trained from scratch, so no layer-wise decay; still no weight decay on norms, position
# encodings and the class token.
max_iters = 3000

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=200, end=max_iters, eta_min=1e-5),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys=dict(
            patch_pos=dict(decay_mult=0.), pixel_pos=dict(decay_mult=0.),
            cls_token=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0, norm_type=2))
auto_scale_lr = dict(base_batch_size=8)
