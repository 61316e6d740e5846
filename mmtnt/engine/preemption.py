"""Stop a run cleanly on a signal: slurm's preemption warning, a scheduler's SIGTERM.

The signal may reach any subset of the ranks. Each rank only notes it (nothing else is safe in a
signal handler); at the next iteration boundary, in training or in validation, the ranks agree
by an all-reduce of that note, write one complete checkpoint of the state after the last finished
iteration (through :class:`~mmtnt.engine.SafeCheckpointHook`), and exit with
:data:`PREEMPTED_EXIT_CODE`. A signal that arrives during the save is only noted again, so it
cannot cut the save short; a SIGKILL cannot either, because checkpoints are written atomically.
"""
import signal
import threading
from typing import Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, barrier, get_world_size
from mmengine.hooks import CheckpointHook, Hook

from mmtnt.registry import HOOKS

from .safe_checkpoint import SafeCheckpointHook

#: Exit status of a run stopped by :class:`PreemptionHook` (``EX_TEMPFAIL`` of sysexits.h: try
#: again later). ``tools/slurm_train.sh`` requeues the job when it sees it.
PREEMPTED_EXIT_CODE = 75


def _signal_number(sig: Union[str, int]) -> int:
    if isinstance(sig, int) and not isinstance(sig, bool):
        return sig
    if isinstance(sig, str) and isinstance(getattr(signal, sig.upper(), None), signal.Signals):
        return int(getattr(signal, sig.upper()))
    raise ValueError(f'PreemptionHook: unknown signal {sig!r}; give names such as "SIGTERM", '
                     f'"SIGUSR1" or numbers.')


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save a checkpoint at the iteration boundary after a signal, on all ranks together, and exit.

    Args:
        signals: signal names or numbers to catch. Defaults to SIGTERM (schedulers, ``kill``,
            torchrun forwarding its own SIGTERM) and SIGUSR1 (what ``tools/slurm_train.sh``
            asks slurm to send before the time limit).
        exit_code: the process exit status after the save. Defaults to
            :data:`PREEMPTED_EXIT_CODE` (75).

    It saves through the runner's :class:`SafeCheckpointHook` (``tools/train.py`` makes every
    config's checkpoint hook one; elsewhere set ``default_hooks.checkpoint.type``). Checking for
    the signal costs one one-element all-reduce per iteration in a distributed run.
    """

    priority = 'LOWEST'  # after the checkpoint hook's own save of the same iteration

    def __init__(self,
                 signals: Sequence[Union[str, int]] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = PREEMPTED_EXIT_CODE) -> None:
        if isinstance(signals, (str, int)):
            signals = [signals]
        self.signals = [_signal_number(s) for s in signals]
        if not self.signals:
            raise ValueError('PreemptionHook: `signals` is empty; give at least one signal.')
        if not isinstance(exit_code, int) or not 0 < exit_code < 256:
            raise ValueError(f'PreemptionHook: exit_code must be an int in 1..255, got '
                             f'{exit_code!r}.')
        self.exit_code = exit_code
        self.received: Optional[int] = None
        self._previous_handlers: dict = {}
        self._training = False
        self._checkpoint_hook: Optional[SafeCheckpointHook] = None

    # -- signal handling ---------------------------------------------------------------------

    def _note(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum

    def before_run(self, runner) -> None:
        self._checkpoint_hook = self._find_checkpoint_hook(runner)
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, signals not caught.')
            return
        for sig in self.signals:
            self._previous_handlers[sig] = signal.signal(sig, self._note)
        names = ', '.join(signal.Signals(s).name for s in self.signals)
        runner.logger.info(f'On {names}: checkpoint at the next iteration boundary, then exit '
                           f'with status {self.exit_code}.')

    def after_run(self, runner) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers = {}

    # -- agreement and stop -----------------------------------------------------------------

    def before_train(self, runner) -> None:
        self._training = True

    def after_train(self, runner) -> None:
        self._training = False

    def _all_agree_to_stop(self) -> bool:
        flag = torch.tensor([0 if self.received is None else 1], dtype=torch.int32)
        if get_world_size() > 1:
            all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._all_agree_to_stop():
            self._stop(runner, iteration=runner.iter + 1, during_val=False)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._training and self._all_agree_to_stop():
            self._stop(runner, iteration=runner.iter, during_val=True)

    @staticmethod
    def _find_checkpoint_hook(runner) -> Optional[SafeCheckpointHook]:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        if hooks and not isinstance(hooks[0], SafeCheckpointHook):
            raise TypeError(
                f'PreemptionHook saves through SafeCheckpointHook, but the checkpoint hook is '
                f'{type(hooks[0]).__name__}: set default_hooks.checkpoint.type='
                f'"SafeCheckpointHook" (same arguments).')
        return hooks[0] if hooks else None

    def _stop(self, runner, iteration: int, during_val: bool) -> None:
        where = 'validation after iteration' if during_val else 'iteration'
        name = signal.Signals(self.received).name if self.received else 'a signal on another rank'
        runner.logger.warning(f'{name} received: stopping at {where} {iteration}.')
        if self._checkpoint_hook is not None:
            path, written = self._checkpoint_hook.save_now(runner, iteration, during_val)
            runner.logger.warning(f'Checkpoint {path} {"written" if written else "was current"}; '
                                  f'resume with --resume.')
        else:
            runner.logger.warning('No checkpoint hook: nothing saved.')
        barrier()
        self.after_run(runner)
        raise SystemExit(self.exit_code)
