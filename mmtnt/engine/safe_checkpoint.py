"""Checkpoints that survive kills, full disks and preemption.

mmengine 0.10.7 writes a checkpoint in place, deletes the oldest one (``max_keep_ckpts``) before
writing the new one, writes ``last_checkpoint`` in place, and on ``--resume`` trusts whatever
``last_checkpoint`` names. A kill during the save can leave a truncated newest file and, with
``max_keep_ckpts=1``, nothing readable. Here:

- every file mmengine writes to a local path (checkpoints periodic, best, last and preemption;
  ``last_checkpoint``) goes to a temporary file in the same directory, is flushed and fsync'ed,
  and is renamed into place (:func:`atomic_write`, :class:`AtomicLocalBackend`);
- :class:`SafeCheckpointHook` prunes old checkpoints only after the new one is complete;
- ``resume`` (auto) picks the newest checkpoint that reads back as a complete archive and says
  which files it skipped and why (:func:`find_resumable_checkpoint`); a work dir with checkpoints
  of which none is readable stops the run with :class:`CheckpointUnreadableError`;
- the random state of every rank (python, numpy, torch, CUDA) is saved with each checkpoint and
  restored at the point where the resumed run reaches the saved iteration, so that a resumed run
  continues as the uninterrupted one would have (:class:`SafeCheckpointHook`).
"""
import glob
import os
import os.path as osp
import random
import tempfile
import zipfile
from typing import Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dist import (all_gather_object, broadcast_object_list, get_rank, get_world_size,
                           is_main_process)
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmtnt.registry import HOOKS

PARTIAL_MARK = '.partial-'
RNG_KEY = 'mmtnt_rng_states'
VAL_PENDING_KEY = 'mmtnt_val_pending'
PREEMPTION_CKPT_KEY = 'mmtnt_preemption_ckpt'


class CheckpointUnreadableError(RuntimeError):
    """A run asked to resume, but no checkpoint it could use reads back completely."""


def atomic_write(path: str, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one.

    The bytes go to ``.<name>.partial-XXXX`` in the same directory, are flushed and fsync'ed, and
    the file is renamed over ``path`` (atomic on POSIX file systems). A kill at any point leaves at
    most a stray partial file (removed by :func:`remove_partial_files`); a full disk raises
    ``OSError`` and removes the partial file, ``path`` untouched.
    """
    if isinstance(data, str):
        data = data.encode(encoding)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}{PARTIAL_MARK}', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make a rename durable (the directory entry); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_partial_files(directory: str) -> List[str]:
    """Remove the partial files that a killed :func:`atomic_write` left in ``directory``."""
    removed = []
    for path in glob.glob(osp.join(glob.escape(directory), f'.*{PARTIAL_MARK}*')):
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text`` (:func:`atomic_write`).

    ``import mmtnt`` registers it as mmengine's ``local`` backend, so every checkpoint that
    mmengine's ``save_checkpoint`` writes to a local path (whichever hook or tool calls it) is
    written atomically.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj, encoding=encoding)


def register_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None if it is.

    torch saves a zip archive whose members carry CRC-32 checksums: the archive's directory (at
    its end) is missing from a truncated file and a checksum fails on corrupted bytes. Nothing is
    unpickled, so no code from the file runs.
    """
    if not osp.isfile(path):
        return 'no such file'
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        return f'not a complete checkpoint archive ({type(e).__name__}: {e})'
    if bad_member is not None:
        return f'corrupted: member {bad_member!r} fails its CRC check'
    return None


def _checkpoint_candidates(work_dir: str) -> List[str]:
    """Checkpoints a resume may use, newest first: ``*.pth`` in ``work_dir`` and in the directory
    ``last_checkpoint`` points into, without ``best_*`` (saved without optimizer state)."""
    directories = {osp.abspath(work_dir)}
    named = None
    last_file = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last_file):
        with open(last_file) as f:
            named = f.read().strip() or None
        if named:
            directories.add(osp.dirname(osp.abspath(named)))
    paths = {osp.abspath(named)} if named else set()
    for directory in directories:
        paths.update(osp.abspath(p) for p in glob.glob(osp.join(glob.escape(directory), '*.pth')))
    paths = [p for p in paths if not osp.basename(p).startswith('best_')]
    # newest first; the file last_checkpoint names wins a tie
    return sorted(paths, key=lambda p: (osp.getmtime(p) if osp.exists(p) else -1, p == named),
                  reverse=True)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint in ``work_dir``, logging each newer one it skipped and why.

    Returns:
        The path, or None if the work dir holds no checkpoint (a fresh start).

    Raises:
        CheckpointUnreadableError: checkpoints are there, but none is complete.
    """
    skipped = []
    for path in _checkpoint_candidates(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        skipped.append((path, problem))
        print_log(f'Resume: skipped {path}: {problem}.', logger='current', level=30)
    if skipped:
        listing = '; '.join(f'{p}: {why}' for p, why in skipped)
        raise CheckpointUnreadableError(
            f'Cannot resume: {work_dir} holds checkpoints, but none reads back completely '
            f'({listing}). Pass a readable checkpoint with --resume PATH, or move these files '
            f'away to start from scratch.')
    return None


# ---------------------------------------------------------------------------------------------
# random state


def capture_rng_state() -> dict:
    """This process's random state: python, numpy, torch CPU and (if initialised) CUDA."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = dict(python=[version, list(internal), gauss],
                 numpy=[np_name, np_keys.copy(), int(np_pos), int(np_has_gauss), float(np_gauss)],
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def gather_rng_states(state: Optional[dict] = None) -> list:
    """Every rank's ``state`` (default: :func:`capture_rng_state`), in rank order (a collective in
    distributed runs)."""
    state = state or capture_rng_state()
    return all_gather_object(state) if get_world_size() > 1 else [state]


class _RestoreAfter:
    """An iterator that calls ``restore`` once, right before item ``skip`` is fetched."""

    def __init__(self, iterator: Iterator, skip: int, restore: Callable[[], None]) -> None:
        self._iterator = iterator
        self._skip = skip
        self._restore = restore
        self._count = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._restore is not None and self._count == self._skip:
            self._restore()
            self._restore = None
        self._count += 1
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


class _SkipThenRestore:
    """A data loader whose next ``__iter__`` skips ``skip`` batches and then calls ``restore``:
    an epoch-based loop resumed in the middle of an epoch continues at the batch it stopped at."""

    def __init__(self, dataloader, skip: int, restore: Callable[[], None]) -> None:
        self._dataloader = dataloader
        self._skip = skip
        self._restore = restore

    def __iter__(self):
        if self._restore is None:
            return iter(self._dataloader)
        restore, self._restore = self._restore, None
        if not self._skip:  # at an epoch's start the state was saved before the loader's
            restore()       # iterator drew its seed
            return iter(self._dataloader)
        iterator = iter(self._dataloader)
        for _ in range(self._skip):  # loads the batches, as mmengine's iteration loop does
            next(iterator)
        restore()
        return iterator

    def __len__(self):
        return len(self._dataloader)

    def __getattr__(self, name):
        return getattr(self._dataloader, name)


# ---------------------------------------------------------------------------------------------
# the hook


class _DeferredRemovals:
    """A file backend whose ``remove`` is postponed while ``pending`` is a list."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.pending: Optional[list] = None

    def remove(self, path) -> None:
        if self.pending is None:
            self.backend.remove(path)
        else:
            self.pending.append(path)

    def __getattr__(self, name):
        return getattr(self.backend, name)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) made safe for long runs.

    - Old checkpoints (``max_keep_ckpts``, the previous best) are deleted only after the new one is
      complete, and ``last_checkpoint`` is replaced atomically after the checkpoint it names.
    - ``resume=True`` without a path resumes from the newest complete checkpoint
      (:func:`find_resumable_checkpoint`); an explicit path that is not a complete checkpoint
      stops the run with a message saying why.
    - Each checkpoint carries every rank's random state; a resumed run restores it when it
      reaches the saved iteration (after mmengine replays the data loader to that point), and
      validation leaves the random state as it found it, so a run stopped at iteration k and
      resumed trains as the uninterrupted run would. Epoch-based loops resumed from a checkpoint
      written in the middle of an epoch (:class:`PreemptionHook`) continue at the next batch of
      that epoch.
    - A write that fails (a full disk) raises ``OSError`` saying that the checkpoints already
      written are intact.

    Use it instead of ``CheckpointHook``: ``default_hooks = dict(checkpoint=dict(
    type='SafeCheckpointHook', ...))``; ``tools/train.py`` does this for every config.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._val_rng_state: Optional[dict] = None  # the training's, while validation runs
        self._resumed_rng_states: Optional[list] = None  # saved ones, until the resume point

    def before_run(self, runner) -> None:
        if is_main_process():
            for directory in {runner.work_dir, self.out_dir or runner.work_dir}:
                for path in remove_partial_files(directory):
                    runner.logger.warning(f'Removed {path}, left by a save that was killed.')
        self._choose_resume_checkpoint(runner)

    def _choose_resume_checkpoint(self, runner) -> None:
        # runner.load_or_resume(), which runs after before_run, reads these two settings
        if not getattr(runner, '_resume', False):
            return
        # rank 0 reads the files and tells the others, so that all resume from the same one
        choice = [None, None]  # [path or None, error message or None]
        if is_main_process():
            try:
                choice[0] = self._resume_path(runner._load_from, runner.work_dir)
            except CheckpointUnreadableError as e:
                choice[1] = str(e)
        if get_world_size() > 1:
            broadcast_object_list(choice)
        if choice[1] is not None:
            raise CheckpointUnreadableError(choice[1])
        if runner._load_from is None and choice[0] is not None:
            runner.logger.info(f'Resuming from {choice[0]}, the newest complete checkpoint.')
            runner._load_from = choice[0]

    @staticmethod
    def _resume_path(load_from: Optional[str], work_dir: str) -> Optional[str]:
        if load_from is None:
            return find_resumable_checkpoint(work_dir)
        if osp.exists(load_from):
            problem = checkpoint_problem(load_from)
            if problem is not None:
                raise CheckpointUnreadableError(
                    f'Cannot resume from {load_from}: {problem}. Pass another checkpoint, or '
                    f'--resume without a path to take the newest complete one.')
        return load_from

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self.file_backend = _DeferredRemovals(self.file_backend)
        hub = runner.message_hub
        states = hub.get_info(RNG_KEY) if runner.iter > 0 else None
        hub.runtime_info.pop(RNG_KEY, None)
        if states is not None:
            self._restore_at_resume_point(runner, states)
        if hub.get_info(VAL_PENDING_KEY) and runner.val_loop is not None:
            runner.logger.info('Running the validation that the stop interrupted.')
            runner.val_loop.run()
        hub.runtime_info.pop(VAL_PENDING_KEY, None)

    def _restore_at_resume_point(self, runner, states: list) -> None:
        rank, world_size = get_rank(), get_world_size()
        if len(states) != world_size:
            runner.logger.warning(
                f'The checkpoint holds the random state of {len(states)} processes, this run has '
                f'{world_size}: random state not restored, the resumed run will not repeat the '
                f'uninterrupted one exactly.')
            return
        state = states[rank]
        # a checkpoint written before the resume point (a best checkpoint of a validation run
        # first) keeps the saved random state, not this process's
        self._resumed_rng_states = states

        def restore():
            restore_rng_state(state)
            self._resumed_rng_states = None

        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop replays runner.iter batches
            loop.dataloader_iterator = _RestoreAfter(loop.dataloader_iterator, runner.iter,
                                                     restore)
        else:  # EpochBasedTrainLoop: skip the batches of this epoch already trained
            skip = runner.iter - runner.epoch * len(loop.dataloader)
            if skip < 0 or skip >= len(loop.dataloader):
                skip = 0
            loop.dataloader = _SkipThenRestore(loop.dataloader, skip, restore)
            if skip:
                runner.logger.info(f'Resuming in the middle of epoch {runner.epoch + 1}: '
                                   f'skipping its first {skip} batches.')

    def before_val(self, runner) -> None:
        # validation must not move the training's random state (a data loader iterator draws
        # its seed from torch's generator)
        self._val_rng_state = capture_rng_state()

    def after_val(self, runner) -> None:
        if self._val_rng_state is not None:
            restore_rng_state(self._val_rng_state)
            self._val_rng_state = None

    def _save_best_checkpoint(self, runner, metrics) -> None:
        self.file_backend.pending = []
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            pending, self.file_backend.pending = self.file_backend.pending, None
        self._remove_files(runner, pending)

    def _remove_files(self, runner, paths) -> None:
        if not is_main_process():
            return
        keep = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in paths:
            if path not in keep and self.file_backend.isfile(path):
                self.file_backend.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """mmengine's step save, with the removal of the oldest checkpoint moved after the save."""
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(self.keep_ckpt_ids.popleft())))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        previous_preemption = runner.message_hub.runtime_info.pop(PREEMPTION_CKPT_KEY, None)
        if previous_preemption:
            stale.append(previous_preemption)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))
        self.write_checkpoint(runner, self.last_ckpt, meta, by_epoch=self.by_epoch)
        self._remove_files(runner, stale)

    def write_checkpoint(self, runner, path: str, meta: dict, by_epoch: bool) -> None:
        """Save the full training state (with every rank's random state) to ``path``, then point
        ``last_checkpoint`` at it. All ranks call it; rank 0 writes."""
        runner.message_hub.update_info('last_ckpt', path)
        # during validation the training's state is the one validation started from
        states = self._resumed_rng_states or gather_rng_states(self._val_rng_state)
        runner.message_hub.update_info(RNG_KEY, states)
        try:
            runner.save_checkpoint(
                osp.dirname(path), osp.basename(path), self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=by_epoch,
                backend_args=self.backend_args, **self.args)
        except OSError as e:
            raise OSError(
                e.errno, f'Could not write checkpoint {path} ({e.strerror or e}); the checkpoints '
                f'already written are intact. Free space or fix the directory, then continue '
                f'with tools/train.py ... --resume.') from e
        finally:
            runner.message_hub.runtime_info.pop(RNG_KEY, None)
        if is_main_process():
            atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), path)

    def save_now(self, runner, iteration: int, during_val: bool) -> Tuple[str, bool]:
        """Save the state after ``iteration`` finished iterations, for a stop (preemption).

        Returns:
            The checkpoint's path, and whether it was written now (False: the periodic checkpoint
            of this iteration already holds that state).
        """
        if not self.by_epoch:
            name = self.filename_tmpl.format(iteration)
        elif during_val:  # at an epoch's end: the state of epoch_{epoch}.pth
            name = self.filename_tmpl.format(runner.epoch)
        else:  # in the middle of an epoch: a checkpoint of its own
            name = f'epoch_{runner.epoch + 1}_iter_{iteration}.pth'
        path = self.file_backend.join_path(self.out_dir, name)
        if path == self.last_ckpt and not during_val:
            return path, False
        if during_val:
            runner.message_hub.update_info(VAL_PENDING_KEY, True)
        if not self.by_epoch:
            self._save_checkpoint_with_step(runner, iteration,
                                            dict(epoch=runner.epoch, iter=iteration))
        else:
            if path != self.last_ckpt:  # not a periodic checkpoint: the next periodic save
                runner.message_hub.update_info(PREEMPTION_CKPT_KEY, path)  # removes it
            self.write_checkpoint(runner, path, dict(epoch=runner.epoch, iter=iteration),
                                  by_epoch=False)
            self.last_ckpt = path
        runner.message_hub.runtime_info.pop(VAL_PENDING_KEY, None)
        return path, True
