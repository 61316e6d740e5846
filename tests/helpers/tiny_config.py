# The tiny run of tests/helpers/tiny_runner.py as a config for tools/train.py and
# tools/dist_train.sh, with the shipped configs' loader settings (2 persistent workers). Needs
# tests/ on PYTHONPATH (the parts are imported as helpers.tiny_runner).
custom_imports = dict(imports=['helpers.tiny_runner'], allow_failed_imports=False)
model = dict(type='TinyModel')
tiny_loader = dict(dataset=dict(type='NoisyPoints'), batch_size=4, num_workers=2,
                   persistent_workers=True, collate_fn=dict(type='pseudo_collate'))
train_dataloader = dict(tiny_loader, sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(tiny_loader, sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='TinyMeanError')
val_cfg = dict()
train_cfg = dict(type='IterBasedTrainLoop', max_iters=12, val_interval=6)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=12, by_epoch=False)]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False,
                                     max_keep_ckpts=2),
                     logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='TinyProgress')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(mp_cfg=dict(mp_start_method='fork'), dist_cfg=dict(backend='gloo'))
