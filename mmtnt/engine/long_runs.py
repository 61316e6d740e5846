"""What ``tools/train.py`` adds to every config so that a long run survives kills and preemption."""
from mmengine.config import Config


def enable_long_run_safety(cfg: Config) -> Config:
    """Make ``cfg``'s checkpoint hook a :class:`~mmtnt.engine.SafeCheckpointHook` (mmengine's
    ``CheckpointHook`` arguments kept) and add a :class:`~mmtnt.engine.PreemptionHook` unless the
    config has one. A config that names another checkpoint hook type keeps it.

    For mmdet's / mmseg's own ``tools/train.py``, say the same in the config::

        default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
        custom_hooks = [dict(type='PreemptionHook')]
    """
    hooks = cfg.setdefault('default_hooks', {})
    checkpoint = hooks.get('checkpoint') or dict(type='CheckpointHook', interval=1)
    if checkpoint.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        checkpoint['type'] = 'SafeCheckpointHook'
    hooks['checkpoint'] = checkpoint
    custom = list(cfg.get('custom_hooks', None) or [])
    if not any(str(h.get('type')).endswith('PreemptionHook') for h in custom):
        custom.append(dict(type='PreemptionHook'))
    cfg.custom_hooks = custom
    return cfg
