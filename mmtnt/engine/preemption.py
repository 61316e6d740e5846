"""Stop a run cleanly on a signal: slurm's preemption warning, a scheduler's SIGTERM.

Launchers deliver signals to whole process groups (torchrun forwards its SIGTERM to every worker,
slurm signals every process of the step, ``kill -- -PGID``), so a signal may reach any subset of
the ranks and their data-loader workers:

- data-loader workers ignore the stop signals from anyone but their parent
  (:class:`PreemptibleRunner` starts them with the signals blocked and gives every loader a
  ``worker_init_fn`` that takes them, chained with the config's), so the main process alone acts;
- each rank only notes the signal (nothing else is safe in a signal handler); a signal that
  arrives during the save is noted again, so it cannot cut the save short;
- at the next iteration boundary the ranks agree (an all-reduce of the note), write one complete
  checkpoint of the state after the last finished iteration through
  :class:`~mmtnt.engine.SafeCheckpointHook`, and exit with :data:`PREEMPTED_EXIT_CODE`; with
  ``MMTNT_STOP_FILE`` set, every rank also writes the status and the checkpoint's path there,
  for launch scripts whose launcher does not pass the status on (torchrun, ``srun
  --kill-on-bad-exit``).

Every stop point resumes to the uninterrupted run: a stop in the last iteration of an epoch is
taken at the epoch's end (its checkpoint, scheduler step and validation belong to it); a stop in an
iteration after which a validation is due, or during a validation, leaves that validation
pending (it runs first on resume); a stop during validation saves the training weights, not the
averaged ones ``EMAHook`` swapped in; ranks agree during validation only on the batches every rank
has, so uneven validation shards cannot hang the agreement.
"""
import os
import signal
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.dist import all_reduce, barrier, get_world_size
from mmengine.hooks import CheckpointHook, EMAHook, Hook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, Runner
from torch.utils.data import DataLoader

from mmtnt.registry import HOOKS, RUNNERS

from .atomic_io import atomic_write
from .checkpoint_hook import PREEMPTION_CKPT_KEY, VAL_PENDING_KEY, SafeCheckpointHook
from .sample_stream import (DeliveredCounter, ResumableBatchSampler, resumable_batch_sampler,
                            resumable_loader_cfg)

#: Exit status of a run stopped by :class:`PreemptionHook` (``EX_TEMPFAIL`` of sysexits.h: try
#: again later). ``tools/dist_train.sh`` and ``tools/slurm_train.sh`` restart the run on it.
PREEMPTED_EXIT_CODE = 75
#: Environment variable naming a file where a stopped run writes ``<status> <checkpoint>``.
STOP_FILE_ENV = 'MMTNT_STOP_FILE'
DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1')


# -------------------------------------------------------------------------------------------
# noting signals (process-wide: tools/train.py starts catching before the runner exists)


class _Note:
    received: Optional[int] = None
    previous: Dict[int, object] = {}


def _handler(signum, frame) -> None:
    if _Note.received is None:
        _Note.received = signum


def signal_numbers(signals: Sequence[Union[str, int]]) -> List[int]:
    """The numbers of ``signals`` (names or numbers) that this platform has; the others are
    skipped with a log line (Windows has no SIGUSR1).

    Raises:
        ValueError: a name that no platform has, or a value that is not a name or a number.
    """
    numbers = []
    catchable = set(signal.valid_signals()) - {signal.SIGKILL if hasattr(signal, 'SIGKILL')
                                               else None}
    for sig in signals:
        if isinstance(sig, int) and not isinstance(sig, bool):
            if sig not in catchable:
                raise ValueError(f'PreemptionHook: {sig} is not a signal a process can catch on '
                                 f'this platform; give names such as "SIGTERM" or "SIGUSR1".')
            numbers.append(sig)
            continue
        name = sig.upper() if isinstance(sig, str) else None
        if name and isinstance(getattr(signal, name, None), signal.Signals):
            numbers.append(int(getattr(signal, name)))
        elif name in ('SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGCONT',
                      'SIGXCPU', 'SIGPWR', 'SIGALRM', 'SIGBREAK'):
            print_log(f'{sig}: this platform has no such signal; not caught.', logger='current')
        else:
            raise ValueError(f'PreemptionHook: unknown signal {sig!r}; give names such as '
                             f'"SIGTERM", "SIGUSR1" or numbers.')
    return numbers


def catch_stop_signals(signals: Sequence[Union[str, int]] = DEFAULT_SIGNALS) -> List[int]:
    """Note ``signals`` from now on (in the main thread only); returns the numbers installed.

    Data-loader workers started later ignore them (:class:`PreemptibleRunner`).
    """
    numbers = signal_numbers(signals)
    if threading.current_thread() is not threading.main_thread():
        return []
    for sig in numbers:
        if sig not in _Note.previous:
            _Note.previous[sig] = signal.signal(sig, _handler)
        WORKER_IGNORED_SIGNALS.add(sig)
    return numbers


def release_stop_signals() -> None:
    """Give the signals their handlers from before :func:`catch_stop_signals`; forget a note."""
    for sig, previous in _Note.previous.items():
        signal.signal(sig, previous)
    _Note.previous = {}
    _Note.received = None


# -------------------------------------------------------------------------------------------
# data-loader workers

#: What data-loader workers ignore: the default stop signals and every one caught since.
WORKER_IGNORED_SIGNALS = set(signal_numbers(DEFAULT_SIGNALS))


def _watch_stop_signals(signals: set, loader_pid: int) -> None:
    """In a data-loader worker: take the stop signals (blocked in every thread) one by one; the
    loader's own SIGTERM (the main process shutting it down, as torch's worker handler knows it)
    ends the worker, any other sender's is ignored."""
    while True:
        info = signal.sigwaitinfo(signals)
        if info.si_signo == signal.SIGTERM and info.si_pid in (loader_pid, os.getppid()):
            os._exit(0)


class IgnoreStopSignals:
    """A ``worker_init_fn`` that makes a data-loader worker ignore the stop signals from anyone
    but its parent, then calls ``then`` (the loader's own ``worker_init_fn``: mmengine's seeding
    or the config's).

    torch's workers die on a SIGTERM from anyone but their parent, and the main process then
    raises ``RuntimeError: DataLoader worker ... is killed by signal`` mid-iteration; SIGUSR1
    kills a worker outright. Here the signals stay blocked in the worker (a
    :class:`SignalSafeDataLoader` forks it with them blocked, so none arrives before this runs)
    and a thread takes them: the parent's SIGTERM (the loader shutting its workers down, Python
    terminating daemon processes at exit) ends the worker, the others are dropped. Where the
    platform cannot tell the sender (macOS, Windows), the signals other than SIGTERM are ignored
    and SIGTERM keeps torch's handling.
    """

    def __init__(self, signals: Sequence[int], then=None) -> None:
        self.signals = sorted(signals)
        self.then = then
        # the process that shuts the workers down (under forkserver it is not their parent)
        self.loader_pid = os.getpid()

    def __call__(self, worker_id: int) -> None:
        if hasattr(signal, 'sigwaitinfo'):
            signal.pthread_sigmask(signal.SIG_BLOCK, self.signals)
            threading.Thread(target=_watch_stop_signals, name='mmtnt-stop-signals', daemon=True,
                             args=(set(self.signals), self.loader_pid)).start()
        else:
            for sig in self.signals:
                if sig != signal.SIGTERM:
                    signal.signal(sig, signal.SIG_IGN)
            if hasattr(signal, 'pthread_sigmask'):  # forked with it blocked: torch's handling
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
        if self.then is not None:
            self.then(worker_id)


class SignalSafeDataLoader(DataLoader):
    """A ``DataLoader`` that starts its workers with the stop signals blocked (the workers
    inherit the mask; :class:`IgnoreStopSignals` takes them from there), so that a signal to the
    process group while workers start cannot kill one before it is set up. In the main process
    they are blocked only while the workers are forked; one that arrived then is delivered
    right after."""

    def __iter__(self):
        if isinstance(self.batch_sampler, ResumableBatchSampler):
            return DeliveredCounter(self._iter_signal_safe, self.batch_sampler)
        return self._iter_signal_safe()

    def _iter_signal_safe(self):
        if self.num_workers == 0 or not hasattr(signal, 'pthread_sigmask'):
            return super().__iter__()
        if isinstance(self.worker_init_fn, IgnoreStopSignals):
            self.worker_init_fn.loader_pid = os.getpid()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_IGNORED_SIGNALS)
        try:
            return super().__iter__()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@RUNNERS.register_module()
class PreemptibleRunner(Runner):
    """mmengine's ``Runner`` whose data-loader workers ignore the stop signals
    (:class:`SignalSafeDataLoader`, :class:`IgnoreStopSignals`), so that a signal to the whole
    process group reaches only the main processes, and whose training data resumes at the saved
    sample position without loading the batches already trained, on any process count
    (:mod:`~mmtnt.engine.sample_stream`). ``tools/train.py`` uses it unless the config names a
    ``runner_type``; with mmdet's / mmseg's own ``tools/train.py`` set
    ``runner_type = 'PreemptibleRunner'``.
    """

    def build_train_loop(self, loop):
        if isinstance(self._train_dataloader, dict):
            self._train_dataloader = resumable_loader_cfg(self._train_dataloader)
        return super().build_train_loop(loop)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if type(loader) is DataLoader and (loader.num_workers > 0 or isinstance(
                loader.batch_sampler, ResumableBatchSampler)):
            # mmengine 0.10.7 builds a torch DataLoader itself: give it the subclass's __iter__
            loader.__class__ = SignalSafeDataLoader
        if isinstance(loader, SignalSafeDataLoader) and loader.num_workers > 0 and \
                not isinstance(loader.worker_init_fn, IgnoreStopSignals):
            loader.worker_init_fn = IgnoreStopSignals(WORKER_IGNORED_SIGNALS,
                                                      loader.worker_init_fn)
        return loader


# -------------------------------------------------------------------------------------------
# the hook


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save a checkpoint at the iteration boundary after a signal, on all ranks together, and exit.

    Args:
        signals: signal names or numbers to catch. Defaults to SIGTERM (schedulers, ``kill``,
            torchrun forwarding its own SIGTERM) and SIGUSR1 (what ``tools/slurm_train.sh``
            asks slurm to send before the time limit). Names the platform lacks are skipped.
        exit_code: the process exit status after the save. Defaults to
            :data:`PREEMPTED_EXIT_CODE` (75).

    It saves through the runner's :class:`SafeCheckpointHook` (``tools/train.py`` makes every
    config's checkpoint hook one; elsewhere set ``default_hooks.checkpoint.type``). Checking for
    the signal costs one one-element all-reduce per iteration in a distributed run.
    """

    priority = 'LOWEST'  # after the checkpoint hook's own save and EMAHook's swap back

    def __init__(self,
                 signals: Sequence[Union[str, int]] = DEFAULT_SIGNALS,
                 exit_code: int = PREEMPTED_EXIT_CODE) -> None:
        if isinstance(signals, (str, int)):
            signals = [signals]
        if not signals:
            raise ValueError('PreemptionHook: `signals` is empty; give at least one signal.')
        self.signals = signal_numbers(signals)
        WORKER_IGNORED_SIGNALS.update(self.signals)
        if not isinstance(exit_code, int) or isinstance(exit_code, bool) or \
                not 0 < exit_code < 256:
            raise ValueError(f'PreemptionHook: exit_code must be an int in 1..255, got '
                             f'{exit_code!r}.')
        self.exit_code = exit_code
        self._installed_here = False
        self._training = False
        self._stop_at_epoch_end = False
        self._val_agreed_batches = 0
        self._checkpoint_hook: Optional[SafeCheckpointHook] = None

    # -- signal handling ---------------------------------------------------------------------

    def before_run(self, runner) -> None:
        self._checkpoint_hook = self._find_checkpoint_hook(runner)
        # runner.train() builds its loop before this; runner.val() / test() leave it a dict
        # (mmengine 0.10.7's Runner._train_loop)
        self._training = isinstance(getattr(runner, '_train_loop', None), BaseLoop)
        self._stop_at_epoch_end = False
        if not self._training:  # runner.val() / test(): a signal ends them as usual
            return
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, signals not caught.')
            return
        missing = [s for s in self.signals if s not in _Note.previous]
        if missing and not _Note.previous:
            self._installed_here = True  # this run owns the note: start it clean
            _Note.received = None
        catch_stop_signals(missing)
        names = ', '.join(signal.Signals(s).name for s in self.signals)
        runner.logger.info(f'On {names}: checkpoint at the next iteration boundary, then exit '
                           f'with status {self.exit_code}.')

    def after_run(self, runner) -> None:
        if self._training and _Note.received is not None:
            runner.logger.info('A stop signal arrived after the last iteration; the run is '
                               'complete.')
        _Note.received = None  # consumed: a later run in this process starts clean
        if self._installed_here:
            release_stop_signals()
            self._installed_here = False
        self._training = False

    # -- agreement -----------------------------------------------------------------------------

    def _all_agree_to_stop(self) -> bool:
        flag = torch.tensor([0 if _Note.received is None else 1], dtype=torch.int32)
        if get_world_size() > 1:
            all_reduce(flag, op='max')
        return bool(flag.item())

    def before_train(self, runner) -> None:
        # a signal during the start (building, loading, a pending validation): nothing trained
        # since the last checkpoint, nothing to save
        if self._training and self._all_agree_to_stop():
            self._exit(runner, f'before the first iteration of this start (iteration '
                       f'{runner.iter}): nothing new to save', path=None)

    def check_during_replay(self, runner) -> None:
        """Called while a resumed run replays the data to its resume point (all ranks alike)."""
        if self._training and self._all_agree_to_stop():
            self._exit(runner, f'while replaying the data to iteration {runner.iter}: nothing '
                       f'new to save', path=None)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._stop_at_epoch_end or not self._all_agree_to_stop():
            return
        loop = runner.train_loop
        by_epoch = isinstance(loop, EpochBasedTrainLoop)
        if by_epoch and self._last_of_epoch(runner):
            self._stop_at_epoch_end = True  # its checkpoint and validation belong to the epoch
            return
        self._stop(runner, 'iteration', runner.iter + 1, during_val=False,
                   val_due=not by_epoch and self._validation_due(runner, runner.iter + 1))

    def after_train_epoch(self, runner) -> None:
        if not self._stop_at_epoch_end:
            return
        self._stop(runner, 'the end of epoch', runner.epoch + 1, during_val=False,
                   val_due=self._validation_due(runner, runner.epoch + 1), epoch_end=True)

    def before_val_epoch(self, runner) -> None:
        # ranks may hold different numbers of validation batches: agree only on those all have
        self._val_agreed_batches = 0
        if not self._training:
            return
        count = torch.tensor([len(runner.val_loop.dataloader)], dtype=torch.int64)
        if get_world_size() > 1:
            all_reduce(count, op='min')
        self._val_agreed_batches = int(count.item())

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if batch_idx < self._val_agreed_batches and self._all_agree_to_stop():
            self._stop(runner, 'validation after iteration', runner.iter, during_val=True,
                       val_due=True)

    def after_val_epoch(self, runner, metrics=None) -> None:
        # every rank is here together; the validation is complete (best checkpoint included).
        # After the run's last validation nothing is left to do: the run ends with status 0.
        if self._training and self._val_agreed_batches and not self._run_done(runner) \
                and self._all_agree_to_stop():
            self._stop(runner, 'the end of the validation after iteration', runner.iter,
                       during_val=False, val_due=False, after_val=True)

    @staticmethod
    def _last_of_epoch(runner) -> bool:
        """Whether the iteration just finished is its epoch's last."""
        batch_sampler = resumable_batch_sampler(runner)
        if batch_sampler is not None:  # (the batch counts of a resumed epoch may differ)
            return batch_sampler.batches_left() == 0
        # (batch_idx counts from 0 again in an epoch resumed in its middle)
        return runner.iter + 1 == (runner.epoch + 1) * len(runner.train_loop.dataloader)

    @staticmethod
    def _run_done(runner) -> bool:
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            return runner.epoch >= loop.max_epochs
        return runner.iter >= getattr(loop, 'max_iters', float('inf'))

    @staticmethod
    def _validation_due(runner, step: int) -> bool:
        """Whether the loop validates after ``step`` (an iteration, or an epoch for epoch-based
        loops), as mmengine 0.10.7's train loops decide it."""
        loop = runner.train_loop
        if runner.val_loop is None or not hasattr(loop, 'val_interval'):
            return False
        last = loop.max_epochs if isinstance(loop, EpochBasedTrainLoop) else loop.max_iters
        return step >= loop.val_begin and (step % loop.val_interval == 0 or step == last)

    # -- saving and exiting ------------------------------------------------------------------

    @staticmethod
    def _find_checkpoint_hook(runner) -> Optional[SafeCheckpointHook]:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        if hooks and not isinstance(hooks[0], SafeCheckpointHook):
            raise TypeError(
                f'PreemptionHook saves through SafeCheckpointHook, but the checkpoint hook is '
                f'{type(hooks[0]).__name__}: set default_hooks.checkpoint.type='
                f'"SafeCheckpointHook" (same arguments).')
        return hooks[0] if hooks else None

    def _stop(self, runner, where: str, step: int, during_val: bool, val_due: bool,
              epoch_end: bool = False, after_val: bool = False) -> None:
        name = signal.Signals(_Note.received).name if _Note.received else \
            'a signal on another rank'
        runner.logger.warning(f'{name} received: stopping at {where} {step}.')
        if during_val:
            # hooks that swapped weights in for validation swap them back: the checkpoint holds
            # the training state (EMAHook.after_val_epoch does only that in mmengine 0.10.7)
            for hook in runner.hooks:
                if isinstance(hook, EMAHook):
                    hook.after_val_epoch(runner)
        path = None
        if self._checkpoint_hook is None:
            runner.logger.warning('No checkpoint hook: nothing saved.')
        else:
            path, written = save_for_stop(self._checkpoint_hook, runner, during_val=during_val,
                                          val_due=val_due, epoch_end=epoch_end,
                                          after_val=after_val)
            runner.logger.warning(
                f'Checkpoint {path} {"written" if written else "was current"}'
                f'{" (the validation runs first on resume)" if val_due else ""}; resume with '
                f'--resume.')
        barrier()
        self._exit(runner, None, path)

    def _exit(self, runner, why: Optional[str], path: Optional[str]) -> None:
        if why:
            runner.logger.warning(f'Stop signal received {why}; exiting with {self.exit_code}.')
        stop_file = os.environ.get(STOP_FILE_ENV)
        if stop_file:
            atomic_write(stop_file, f'{self.exit_code} {path or ""}\n')
        self._training = False  # (its after_run has no run left to call complete)
        runner.call_hook('after_run')  # loggers and visualizers close (this hook's releases)
        raise SystemExit(self.exit_code)


def _stop_file_name(hook: SafeCheckpointHook, runner, epoch_end: bool, in_val: bool) -> str:
    """The checkpoint file name of a stop: the periodic name of its step, or, in the middle of an
    epoch, ``epoch_E_iter_I.pth``."""
    if not hook.by_epoch:
        return hook.filename_tmpl.format(runner.iter if in_val else runner.iter + 1)
    if epoch_end:
        return hook.filename_tmpl.format(runner.epoch + 1)
    if in_val:  # after an epoch (the loop has counted it)
        return hook.filename_tmpl.format(runner.epoch)
    return f'epoch_{runner.epoch + 1}_iter_{runner.iter + 1}.pth'


def save_for_stop(hook: SafeCheckpointHook, runner, during_val: bool, val_due: bool,
                  epoch_end: bool = False, after_val: bool = False) -> Tuple[str, bool]:
    """Write the checkpoint of a stop through ``hook`` (all ranks call it; rank 0 writes).

    The state is the one after the last finished iteration (or epoch, or validation). A periodic
    checkpoint of the same step that already holds it is kept as it is; one that lacks the
    pending validation's mark, or the results of the validation just finished, is rewritten. A
    checkpoint of its own (the middle of an epoch, an iteration between periodic saves) is
    removed by the next periodic save, so the files match an uninterrupted run's.

    Returns:
        The checkpoint's path, and whether it was written now.
    """
    in_val = during_val or after_val
    path = hook.file_backend.join_path(hook.out_dir,
                                       _stop_file_name(hook, runner, epoch_end, in_val))
    if path == hook.last_ckpt and not (val_due or after_val):
        return path, False
    hub = runner.message_hub
    if val_due:
        hub.update_info(VAL_PENDING_KEY, True)
    previous = hub.get_info(PREEMPTION_CKPT_KEY)
    if path != hook.last_ckpt:  # not a periodic checkpoint: the next periodic save removes it
        hub.update_info(PREEMPTION_CKPT_KEY, path)
    if epoch_end:  # mmengine counts the epoch as done: meta epoch + 1, iter
        hook.write_checkpoint(runner, path, None, by_epoch=True)
    else:
        iteration = runner.iter if in_val else runner.iter + 1
        hook.write_checkpoint(runner, path, dict(epoch=runner.epoch, iter=iteration),
                              by_epoch=False)
    hook.last_ckpt = path
    hub.runtime_info.pop(VAL_PENDING_KEY, None)
    if previous and previous != path:  # a stop's checkpoint from an earlier start of this run
        hook.remove_files(runner, [previous])
    return path, True
