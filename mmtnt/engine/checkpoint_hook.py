"""SafeCheckpointHook: mmengine's CheckpointHook made safe for long runs.

It writes through :mod:`~mmtnt.engine.atomic_io` (atomic files), prunes old checkpoints only
after the new one is complete, chooses the resume checkpoint with :mod:`~mmtnt.engine.resume`,
saves every rank's random state (:mod:`~mmtnt.engine.rng_state`) and restores it where the
resumed run reaches the saved iteration (:mod:`~mmtnt.engine.dataloader_resume`). The saving of a
stop is :class:`~mmtnt.engine.PreemptionHook`'s, through
:meth:`SafeCheckpointHook.write_checkpoint`.
"""
import os.path as osp
from functools import partial
from typing import Optional

from mmengine.dist import (all_gather_object, broadcast_object_list, get_rank, get_world_size,
                           is_main_process)
from mmengine.hooks import CheckpointHook

from mmtnt.registry import HOOKS

from .atomic_io import is_local_path, remove_partial_files
from .dataloader_resume import RestoreAfter, SkipThenRestore
from .resume import (CheckpointUnreadableError, checkpoint_problem, find_resumable_checkpoint,
                     forget_checkpoints, record_checkpoint)
from .rng_state import capture_rng_state, gather_rng_states, restore_rng_state
from .sample_stream import DATA_STATE_KEY, _Stream, data_state, resumable_batch_sampler

RNG_KEY = 'mmtnt_rng_states'
VAL_PENDING_KEY = 'mmtnt_val_pending'
PREEMPTION_CKPT_KEY = 'mmtnt_preemption_ckpt'


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
    - Each checkpoint carries every rank's random state and place in the training data
      (:mod:`~mmtnt.engine.sample_stream`, with :class:`PreemptibleRunner`); a resumed run
      starts the data there without loading a batch already trained, restores the random state
      before its first iteration, and validation leaves the random state as it found it, so a
      run stopped at iteration k and resumed trains as the uninterrupted run would. Resumed on
      another process count with the same global batch, every sample of the epoch is still
      trained once; another global batch stops the run unless ``accept_batch_change``. Other
      samplers: the resumed run loads the batches already trained again (mmengine's way), or,
      in the middle of an epoch of an epoch-based loop, the batches of that epoch.
    - A write that fails (a full disk) raises ``OSError`` saying that the checkpoints already
      written are intact.

    Use it instead of ``CheckpointHook``: ``default_hooks = dict(checkpoint=dict(
    type='SafeCheckpointHook', ...))``; ``tools/train.py`` does this for every config.

    Args:
        load_from_if_fresh: weights to load (not resume) when an automatic resume finds no
            checkpoint of the run: the config's ``load_from`` for a fine-tuning run that
            ``tools/train.py --resume`` (or every slurm restart) starts on an empty work dir.
        accept_batch_change: resume a checkpoint trained with another global batch (processes x
            batch per process x ``accumulative_counts``) at its sample position, instead of
            stopping with an error; the iteration-based schedule is not rescaled.
        *args, **kwargs: ``CheckpointHook``'s.
    """

    def __init__(self, *args, load_from_if_fresh: Optional[str] = None,
                 accept_batch_change: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.accept_batch_change = bool(accept_batch_change)
        if load_from_if_fresh is not None and not isinstance(load_from_if_fresh, str):
            raise TypeError(f'SafeCheckpointHook: load_from_if_fresh must be a path or URL, got '
                            f'{load_from_if_fresh!r}.')
        self.load_from_if_fresh = load_from_if_fresh
        self._val_rng_state: Optional[dict] = None  # the training's, while validation runs
        self._resumed_rng_states: Optional[list] = None  # saved ones, until the resume point

    def before_run(self, runner) -> None:
        self._choose_resume_checkpoint(runner)

    def _choose_resume_checkpoint(self, runner) -> None:
        # runner.load_or_resume(), which runs after before_run, reads these two private settings
        # (Runner._resume, Runner._load_from; mmengine 0.10.7)
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
        elif runner._load_from is None and self.load_from_if_fresh:
            runner.logger.info(f'No checkpoint of this run in {runner.work_dir}: a fresh start '
                               f'from {self.load_from_if_fresh} (load_from).')
            runner._resume, runner._load_from = False, self.load_from_if_fresh

    @staticmethod
    def _resume_path(load_from: Optional[str], work_dir: str) -> Optional[str]:
        if load_from is None:
            return find_resumable_checkpoint(work_dir)
        problem = checkpoint_problem(load_from)
        if problem is not None:
            raise CheckpointUnreadableError(
                f'Cannot resume from {load_from}: {problem}. Pass another checkpoint, or '
                f'--resume without a path to take the newest complete one.')
        return load_from

    def before_train(self, runner) -> None:
        super().before_train(runner)  # joins out_dir and the work dir's name
        if is_main_process():  # only a training writes checkpoints: not from val() / test()
            for directory in {runner.work_dir, self.out_dir}:
                if not is_local_path(directory):
                    continue
                for path in remove_partial_files(directory):
                    runner.logger.warning(f'Removed {path}, left by a save that was killed.')
        self.file_backend = _DeferredRemovals(self.file_backend)
        hub = runner.message_hub
        if self.last_ckpt is None and hub.get_info('last_ckpt'):
            self.last_ckpt = hub.get_info('last_ckpt')  # mmengine 0.10.7 forgets it on resume
        states, data = hub.get_info(RNG_KEY), hub.get_info(DATA_STATE_KEY)
        hub.runtime_info.pop(RNG_KEY, None)
        hub.runtime_info.pop(DATA_STATE_KEY, None)
        # a run from its start (load_from included) has no position to restore
        state = self._restore_at_resume_point(runner, states, data) if runner.iter > 0 else None
        if hub.get_info(VAL_PENDING_KEY) and runner.val_loop is not None:
            runner.logger.info('Running the validation that the stop left pending.')
            current = capture_rng_state()
            if state is not None:  # it draws what it drew in the uninterrupted run
                restore_rng_state(state)
            runner.val_loop.run()
            restore_rng_state(current)
        hub.runtime_info.pop(VAL_PENDING_KEY, None)

    def _restore_at_resume_point(self, runner, states: Optional[list],
                                 data: Optional[dict]) -> Optional[dict]:
        """Start the resumed run's data at the saved position and restore this rank's saved
        random state before its first iteration; returns that state (None if the checkpoint
        has none, or the process count differs)."""
        rank, world_size = get_rank(), get_world_size()
        state = restore = None
        if states is not None and len(states) != world_size:
            runner.logger.warning(
                f'The checkpoint holds the random state of {len(states)} processes, this run has '
                f'{world_size}: random state not restored, the resumed run will not repeat the '
                f'uninterrupted one exactly.')
        elif states is not None:
            state = states[rank]
            # a checkpoint written before the resume point (a best checkpoint of a validation
            # run first) keeps the saved random state, not this process's
            self._resumed_rng_states = states

            def restore():
                restore_rng_state(state)
                self._resumed_rng_states = None

        batch_sampler = resumable_batch_sampler(runner)
        loop = runner.train_loop
        if data is not None and data.get('iteration', runner.iter) != runner.iter:
            runner.logger.warning(
                f'The data position in the checkpoint was saved at iteration '
                f'{data.get("iteration")}, the checkpoint is of iteration {runner.iter} (saved '
                f'again by another checkpoint hook): the position is not used.')
            data = None
        if batch_sampler is not None and data is None:
            self._resume_without_position(runner, batch_sampler, loop)
        elif batch_sampler is not None:
            opened = batch_sampler.restore(
                data, accumulative_counts=_accumulative_counts(runner),
                accept_batch_change=self.accept_batch_change, logger=runner.logger)
            loader = loop.dataloader
            # the uninterrupted run's next iterator draws its seed from torch's generator after
            # the saved state, unless its persistent workers only reset it
            restore_first = not opened and not (loader.persistent_workers
                                                 and loader.num_workers > 0)
            if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop: a new iterator, at
                # the saved position; mmengine's replay of runner.iter batches loads none
                loop.dataloader_iterator = RestoreAfter(
                    type(loop.dataloader_iterator)(loader), runner.iter, restore,
                    load_skipped=False, restore_first=restore_first)
            elif restore is not None:  # EpochBasedTrainLoop
                loop.dataloader = SkipThenRestore(loader, 0, restore,
                                                  restore_first=restore_first)
            return state
        if restore is None:
            return None
        # a stop signal during the replay (PreemptionHook) ends the run there
        checks = [h.check_during_replay for h in runner.hooks
                  if hasattr(h, 'check_during_replay')]
        check = partial(checks[0], runner) if checks else None
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop replays runner.iter batches
            loop.dataloader_iterator = RestoreAfter(loop.dataloader_iterator, runner.iter,
                                                    restore, check)
        else:  # EpochBasedTrainLoop: skip the batches of this epoch already trained
            skip = runner.iter - runner.epoch * len(loop.dataloader)
            if skip < 0 or skip >= len(loop.dataloader):
                skip = 0
            loop.dataloader = SkipThenRestore(loop.dataloader, skip, restore, check)
            if skip:
                runner.logger.info(f'Resuming in the middle of epoch {runner.epoch + 1}: '
                                   f'loading its first {skip} batches again.')
        return state

    @staticmethod
    def _resume_without_position(runner, batch_sampler, loop) -> None:
        """A checkpoint without a data position (written before mmtnt recorded it): the
        sampler takes the checkpoint's seed; an endless one with torch's batching starts at
        ``runner.iter`` batches without loading them (in its own order, not the old sampler's),
        other samplers load the batches again (mmengine's way)."""
        sampler = batch_sampler.sampler
        sampler.seed = runner.seed
        if sampler.infinite and not batch_sampler.aspect_ratio:
            sampler.resume_at(_Stream(0, drawn=runner.iter * batch_sampler.batch_size,
                                      opened=True))
            loop.dataloader_iterator = RestoreAfter(
                type(loop.dataloader_iterator)(loop.dataloader), runner.iter, None,
                load_skipped=False)
        runner.logger.warning('The checkpoint has no data position (written by an older mmtnt '
                              'or another checkpoint hook): the data order after the resume '
                              'differs from the saved run\'s.')

    def before_val(self, runner) -> None:
        # validation must not move the training's random state (a data loader iterator draws
        # its seed from torch's generator)
        self._val_rng_state = capture_rng_state()

    def after_val(self, runner) -> None:
        if self._val_rng_state is not None:
            restore_rng_state(self._val_rng_state)
            self._val_rng_state = None

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best or not isinstance(getattr(self, 'file_backend', None),
                                                _DeferredRemovals):
            return super()._save_best_checkpoint(runner, metrics)  # runner.val(): no training
        self.file_backend.pending = []
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            pending, self.file_backend.pending = self.file_backend.pending, None
        self.remove_files(runner, pending)

    def remove_files(self, runner, paths) -> None:
        """Delete ``paths`` (rank 0), except the latest and the best checkpoints."""
        if not is_main_process():
            return
        keep = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                *getattr(self, 'best_ckpt_path_dict', {}).values()}
        removed = [p for p in paths if p not in keep and self.file_backend.isfile(p)]
        for path in removed:
            self.file_backend.remove(path)
        forget_checkpoints(runner.work_dir, removed)

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
        self.remove_files(runner, stale)

    def write_checkpoint(self, runner, path: str, meta: dict, by_epoch: bool) -> None:
        """Save the full training state (with every rank's random state) to ``path``, then point
        ``last_checkpoint`` at it. All ranks call it; rank 0 writes."""
        runner.message_hub.update_info('last_ckpt', path)
        # during validation the training's state is the one validation started from
        states = self._resumed_rng_states or gather_rng_states(self._val_rng_state)
        runner.message_hub.update_info(RNG_KEY, states)
        batch_sampler = resumable_batch_sampler(runner)
        if batch_sampler is not None:
            place = batch_sampler.position()
            places = all_gather_object(place) if get_world_size() > 1 else [place]
            runner.message_hub.update_info(DATA_STATE_KEY, data_state(
                batch_sampler, places, _accumulative_counts(runner),
                iteration=(meta or {}).get('iter', runner.iter)))
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
            runner.message_hub.runtime_info.pop(DATA_STATE_KEY, None)
        if is_main_process():
            record_checkpoint(runner.work_dir, path)


def _accumulative_counts(runner) -> int:
    """The optimizer's gradient accumulation (mmengine's ``OptimWrapper``; 1 for others)."""
    wrapper = getattr(runner, 'optim_wrapper', None)
    wrappers = list(wrapper.values()) if hasattr(wrapper, 'values') else [wrapper]
    return int(getattr(wrappers[0], '_accumulative_counts', 1)) if wrappers else 1
