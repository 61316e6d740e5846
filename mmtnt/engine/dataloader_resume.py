"""Data loaders that continue where a stopped run left off.

mmengine 0.10.7 resumes an ``IterBasedTrainLoop`` by drawing (and dropping) the batches already
trained, and an ``EpochBasedTrainLoop`` at the start of the saved epoch. These wrappers restore the
saved random state at the point the resumed run reaches the saved iteration, let an epoch-based run
stopped in the middle of an epoch continue at the next batch of that epoch, and, where the
sampler itself starts at the saved position (:mod:`~mmtnt.engine.sample_stream`), skip mmengine's
replay without loading a batch.
"""
from typing import Callable, Iterator, Optional

#: While replaying batches to the resume point, ``check`` runs every this many batches (a stop
#: signal then ends the run instead of waiting for the replay to finish).
REPLAY_CHECK_EVERY = 20


def _start(iterator) -> None:
    """Make ``iterator``'s data-loader iterator now (:class:`~.sample_stream.DeliveredCounter`
    makes it on first use), also inside mmengine's ``_InfiniteDataloaderIterator``."""
    for it in (iterator, getattr(iterator, '_iterator', None)):
        if hasattr(it, 'start'):
            it.start()


class RestoreAfter:
    """An iterator that calls ``restore`` (if any) once, right before item ``skip`` is fetched
    (for an ``IterBasedTrainLoop``, whose resume replays ``skip`` batches), and ``check`` every
    :data:`REPLAY_CHECK_EVERY` items before that (all ranks replay alike). With
    ``load_skipped=False`` the first ``skip`` items are ``None``, nothing is loaded: ``iterator``
    already starts at the resume point; ``restore_first`` then says whether the random state is
    restored before its data-loader iterator is made (which draws from torch's generator)."""

    def __init__(self, iterator: Iterator, skip: int, restore: Optional[Callable[[], None]],
                 check: Optional[Callable[[], None]] = None, load_skipped: bool = True,
                 restore_first: bool = False) -> None:
        self._iterator = iterator
        self._skip = skip
        self._restore = restore
        self._check = check
        self._load_skipped = load_skipped
        self._restore_first = restore_first
        self._count = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._count < self._skip and not self._load_skipped:
            self._count += 1
            return None
        if self._restore is not None and self._count == self._skip:
            if not self._restore_first:
                _start(self._iterator)
            self._restore()
            self._restore = None
        elif self._restore is not None and self._check is not None and self._count and \
                self._count % REPLAY_CHECK_EVERY == 0:
            self._check()
        self._count += 1
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


class SkipThenRestore:
    """A data loader whose next ``__iter__`` skips ``skip`` batches and then calls ``restore``:
    an epoch-based loop resumed in the middle of an epoch continues at the batch it stopped at.
    ``restore_first``: with nothing to skip, restore before the iterator is made (the state was
    saved at an epoch's end, and the uninterrupted run's next iterator draws its seed after it;
    with persistent workers it draws none)."""

    def __init__(self, dataloader, skip: int, restore: Callable[[], None],
                 check: Optional[Callable[[], None]] = None, restore_first: bool = True) -> None:
        self._dataloader = dataloader
        self._skip = skip
        self._restore = restore
        self._check = check
        self._restore_first = restore_first

    def __iter__(self):
        if self._restore is None:
            return iter(self._dataloader)
        restore, self._restore = self._restore, None
        if not self._skip and self._restore_first:
            restore()
            return iter(self._dataloader)
        iterator = iter(self._dataloader)
        _start(iterator)
        for count in range(self._skip):  # loads the batches, as mmengine's iteration loop does
            if self._check is not None and count and count % REPLAY_CHECK_EVERY == 0:
                self._check()
            next(iterator)
        restore()
        return iterator

    def __len__(self):
        return len(self._dataloader)

    def __getattr__(self, name):
        return getattr(self._dataloader, name)
