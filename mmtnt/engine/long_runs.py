"""What ``tools/train.py`` adds to every config so that a long run survives kills and preemption."""
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmtnt.utils.config_type import type_name


def enable_long_run_safety(cfg: Config, load_from_if_fresh=None) -> Config:
    """Make ``cfg``'s checkpoint hook a :class:`~mmtnt.engine.SafeCheckpointHook` (mmengine's
    ``CheckpointHook`` arguments kept), add a :class:`~mmtnt.engine.PreemptionHook` unless the
    config has one, and run it with :class:`~mmtnt.engine.PreemptibleRunner` unless the config
    names a runner. A config that names another checkpoint hook type keeps it.

    Args:
        load_from_if_fresh: weights to start from when an automatic resume finds no checkpoint
            in the work dir (the config's ``load_from``, which ``--resume`` would otherwise drop).

    For mmdet's / mmseg's own ``tools/train.py``, say the same in the config::

        default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
        custom_hooks = [dict(type='PreemptionHook')]
        runner_type = 'PreemptibleRunner'
    """
    hooks = cfg.setdefault('default_hooks', {})
    checkpoint = hooks.get('checkpoint') or dict(type='CheckpointHook', interval=1)
    if checkpoint.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook):
        checkpoint['type'] = 'SafeCheckpointHook'
    if load_from_if_fresh is not None:
        checkpoint['load_from_if_fresh'] = load_from_if_fresh
    hooks['checkpoint'] = checkpoint
    custom = list(cfg.get('custom_hooks', None) or [])
    if not any(type_name(h.get('type')).endswith('PreemptionHook') for h in custom):
        custom.append(dict(type='PreemptionHook'))
    cfg.custom_hooks = custom
    if 'runner_type' not in cfg:
        cfg.runner_type = 'PreemptibleRunner'
    elif not type_name(cfg.runner_type).endswith('PreemptibleRunner'):
        print_log(f'runner_type={cfg.runner_type!r}: its data-loader workers keep torch\'s signal '
                  f'handling (a SIGTERM to the process group kills them); PreemptibleRunner '
                  f'makes them ignore the stop signals.', logger='current', level=30)
    return cfg
