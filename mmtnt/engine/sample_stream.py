"""Data sampling that resumes at the saved sample position, on any process count.

mmengine resumes a run by loading (and dropping) every batch already trained. Here the training
data is one global stream of sample positions per epoch (or one endless stream), split over the
processes as mmengine's ``DefaultSampler`` / ``InfiniteSampler`` split it; a checkpoint records
where every process stands in it, and a resumed run starts there without loading a batch:

- :class:`ResumableSampler` yields the indices of ``DefaultSampler`` (``infinite=False``, same
  order) or of an endless sequence of epochs (``infinite=True``, for ``InfiniteSampler``), as
  :class:`SampleIndex` values that carry their stream position and their augmentation seed.
- :class:`ResumableBatchSampler` batches them as torch's ``BatchSampler`` or, with
  ``aspect_ratio=True``, as MMDetection's ``AspectRatioBatchSampler``, and remembers its state
  after each batch (the samples it has drawn, those waiting in its buckets).
- :class:`SeededDataset` seeds python's, numpy's and torch's generators from the sample's seed
  (the run's seed, the epoch and the sample index) before the pipeline runs, and puts the
  process's own state back after it: a sample's augmentation does not depend on which process
  or data-loader worker loads it, nor on what was loaded before.

Resumed with the same processes and batch, every process continues its own stream exactly.
Resumed with another process count (the same global batch), the samples not yet trained in the
epoch (those waiting in aspect-ratio buckets included) are split over the new processes: every
sample of the epoch is trained once.
"""
import copy
import math
import random
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from torch.utils.data import Dataset, Sampler

from mmtnt.utils.config_type import type_name

#: message-hub key of the data position saved with each checkpoint
DATA_STATE_KEY = 'mmtnt_data_state'
_MASK64 = (1 << 64) - 1


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of dataset sample ``index`` in ``epoch`` of a run seeded ``seed``
    (splitmix64 of the three; 63 bits)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xD1B54A32D192ED03 + index * 0x8CB92BA72F3D8DD7
         + 0x632BE59BD9B4E019) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1


class SampleIndex(int):
    """A dataset index with its position in the data stream and its augmentation seed."""

    def __new__(cls, index: int, position: int, seed: int):
        obj = int.__new__(cls, index)
        obj.position = position
        obj.seed = seed
        return obj

    def __reduce__(self):  # to data-loader workers
        return SampleIndex, (int(self), self.position, self.seed)


class SeededDataset(Dataset):
    """``dataset`` (a dataset or its config) whose items, asked for by a :class:`SampleIndex`,
    are made with the generators seeded from the index's seed; the calling process's random
    state is left as it was. Other attributes are the wrapped dataset's."""

    def __init__(self, dataset) -> None:
        if isinstance(dataset, dict):
            from mmengine.registry import DATASETS
            dataset = DATASETS.build(dataset)
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        seed = getattr(index, 'seed', None)
        if seed is None:
            return self.dataset[index]
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        random.seed(seed)
        np.random.seed(seed & 0xFFFFFFFF)
        torch.random.default_generator.manual_seed(seed)  # the CPU's only: CUDA's stays as it is
        try:
            return self.dataset[int(index)]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])

    def __getattr__(self, name):
        if name == 'dataset' or name.startswith('__'):  # (unpickling, before __dict__ is set)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __setattr__(self, name, value):
        # mmdet's PipelineSwitchHook sets ``train_dataloader.dataset.pipeline``
        if name == 'dataset':
            object.__setattr__(self, name, value)
        else:
            setattr(self.dataset, name, value)


class _Stream:
    """Where one process stands in one epoch's stream: the positions excluded from it (``start``:
    all before; ``skip``: those after, already trained), and how many of its share it has drawn."""

    def __init__(self, epoch: int, start: int = 0, skip: Sequence[int] = (), drawn: int = 0,
                 held: Optional[List[List[int]]] = None, opened: bool = False) -> None:
        self.epoch, self.start, self.skip, self.drawn = epoch, start, tuple(skip), drawn
        self.held = held  # positions waiting in the batch sampler's buckets
        # whether the data loader of the saved run had made its iterator over this stream
        self.opened = opened


class ResumableSampler(Sampler):
    """``DefaultSampler`` (``infinite=False``) or ``InfiniteSampler`` (``infinite=True``) whose
    run can be resumed at a sample position; see the module's description.

    Epoch ``e`` is ``torch.randperm(len(dataset))`` seeded ``seed + e`` (``arange`` without
    ``shuffle``); the finite sampler pads it to a multiple of the process count with its first
    samples (``round_up``) and gives process ``r`` positions ``r, r + W, ...``, as
    ``DefaultSampler`` does; the endless one runs through epochs 0, 1, 2, ... in one stream
    (``InfiniteSampler`` draws its epochs from one generator: the same distribution, another
    order).
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None,
                 round_up: bool = True, infinite: bool = False, rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        dist_rank, dist_world_size = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = dist_world_size if world_size is None else world_size
        self.dataset = dataset
        self.size = len(dataset)
        if self.size == 0:
            raise ValueError('ResumableSampler: the dataset is empty; check its annotation file '
                             'and filter_cfg.')
        self.shuffle, self.round_up, self.infinite = shuffle, round_up, infinite
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        self._epoch_offset = 0  # a resumed iteration-based run counts its epochs from 0 again
        self._pending: Optional[_Stream] = None
        self._perm_cache: Tuple[Tuple[int, int], Optional[np.ndarray]] = ((0, -1), None)

    # -- mmengine's sampler interface ----------------------------------------------------------

    def __len__(self) -> int:
        if self.infinite:
            return self.size
        if self.round_up:
            return math.ceil(self.size / self.world_size)
        return math.ceil((self.size - self.rank) / self.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[SampleIndex]:
        return self.open_stream()[1]

    # -- the stream ------------------------------------------------------------------------------

    def resume_at(self, stream: _Stream) -> None:
        """Start the next stream (the next ``__iter__``) at ``stream``."""
        self._pending = stream

    def open_stream(self) -> Tuple[_Stream, Iterator[SampleIndex]]:
        """The stream of this process from where it stands (a pending resume, or an epoch's
        start), and an iterator over its samples."""
        if self._pending is not None:
            stream, self._pending = self._pending, None
            self._epoch_offset = stream.epoch - self.epoch
        else:
            stream = _Stream(self.epoch + self._epoch_offset)
        positions = self.positions(stream.epoch, stream.start, stream.skip, self.world_size,
                                   self.rank, stream.drawn)
        return stream, (self.sample(stream.epoch, p) for p in positions)

    def share_length(self, start: int, skip: Sequence[int], world_size: int, rank: int) -> int:
        """How many samples process ``rank`` of ``world_size`` draws from an epoch's stream that
        excludes the positions before ``start`` and those in ``skip`` (finite samplers)."""
        left = max(self.size - start - sum(1 for p in skip if start <= p < self.size), 0)
        total = math.ceil(left / world_size) * world_size if self.round_up else left
        return max(math.ceil((total - rank) / world_size), 0)

    def positions(self, epoch: int, start: int, skip: Sequence[int], world_size: int, rank: int,
                  drawn: int = 0) -> Iterator[int]:
        """Positions of process ``rank``'s share of the stream, after its first ``drawn``.

        Positions ``p >= len(dataset)`` of a finite epoch are its padding (sample ``p % len``)."""
        first = rank + drawn * world_size
        if not self.infinite:
            skip_set = set(skip)
            real = [p for p in range(start, self.size) if p not in skip_set]
            total = math.ceil(len(real) / world_size) * world_size if self.round_up \
                else len(real)
            padded = real + list(range(self.size, self.size + total - len(real)))
            return iter(padded[first::world_size])
        return _endless_share(start, sorted(p for p in skip if p >= start), first, world_size)

    def sample(self, epoch: int, position: int) -> SampleIndex:
        """The dataset index at ``position`` of the stream of ``epoch``."""
        if self.infinite:
            epoch = position // self.size  # the endless stream runs through the epochs
        index = int(self._permutation(epoch)[position % self.size])
        return SampleIndex(index, position, sample_seed(self.seed, epoch, index))

    def _permutation(self, epoch: int) -> np.ndarray:
        cached, perm = self._perm_cache
        if cached != (self.seed, epoch) or perm is None:  # (restore() may change the seed)
            if self.shuffle:
                g = torch.Generator()
                g.manual_seed(self.seed + epoch)
                perm = torch.randperm(self.size, generator=g).numpy()
            else:
                perm = np.arange(self.size)
            self._perm_cache = ((self.seed, epoch), perm)
        return perm


def _endless_share(start: int, skip: List[int], first: int, step: int) -> Iterator[int]:
    """Items ``first, first + step, ...`` of the positions ``start, start + 1, ...`` without
    those in ``skip`` (sorted): found without walking the stream up to ``first``."""
    position, k = start + first, 0
    while k < len(skip) and skip[k] <= position:  # each skipped position before it shifts it
        position, k = position + 1, k + 1
    while True:
        yield position
        for _ in range(step):
            position += 1
            while k < len(skip) and skip[k] == position:
                position, k = position + 1, k + 1


class ResumableBatchSampler(Sampler):
    """Batches of a :class:`ResumableSampler`: torch's ``BatchSampler`` or, with
    ``aspect_ratio=True``, MMDetection's ``AspectRatioBatchSampler`` (images wider than high
    and the others batched apart; the rest of both at the end), with the state after every batch
    kept for :meth:`position` / :meth:`restore`."""

    def __init__(self, sampler: ResumableSampler, batch_size: int, drop_last: bool = False,
                 aspect_ratio: bool = False) -> None:
        if not isinstance(sampler, ResumableSampler):
            raise TypeError(f'ResumableBatchSampler needs a ResumableSampler, got '
                            f'{type(sampler).__name__}.')
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}.')
        self.sampler, self.batch_size = sampler, batch_size
        self.drop_last, self.aspect_ratio = drop_last, aspect_ratio
        self.delivered = 0  # batches of the current stream handed to training (the loader's)
        self._stream: Optional[_Stream] = None
        self._snapshots: Dict[int, Tuple[int, List[List[int]]]] = {}

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return math.ceil(len(self.sampler) / self.batch_size)

    def _bucket(self, index: int) -> int:
        if not self.aspect_ratio:
            return 0
        info = self.sampler.dataset.get_data_info(index)
        return 0 if info['width'] < info['height'] else 1

    def __iter__(self) -> Iterator[List[SampleIndex]]:
        stream, samples = self.sampler.open_stream()
        held = stream.held or [[] for _ in range(2 if self.aspect_ratio else 1)]
        buckets = [[self.sampler.sample(stream.epoch, p) for p in bucket] for bucket in held]
        self._stream, self.delivered = stream, 0
        drawn, count = stream.drawn, 0
        self._snapshots = {0: (drawn, [[int(i.position) for i in b] for b in buckets])}

        def keep(batch):  # the state once ``batch`` is out
            nonlocal count
            count += 1
            self._snapshots[count] = (drawn, [[i.position for i in b] for b in buckets])
            for old in [k for k in self._snapshots if k < self.delivered]:
                del self._snapshots[old]
            return batch

        for sample in samples:
            drawn += 1
            bucket = buckets[self._bucket(sample)]
            bucket.append(sample)
            if len(bucket) == self.batch_size:
                batch = bucket[:]
                del bucket[:]
                yield keep(batch)
        rest = [sample for bucket in buckets for sample in bucket]
        for bucket in buckets:
            del bucket[:]
        while rest:
            batch, rest = rest[:self.batch_size], rest[self.batch_size:]
            if len(batch) == self.batch_size or not self.drop_last:
                buckets[0][:] = rest  # what is left waits in the first bucket
                yield keep(batch)
                buckets[0].clear()

    # -- position ------------------------------------------------------------------------------

    def position(self) -> dict:
        """This process's place in the stream after the batches delivered so far."""
        stream = self._stream or self.sampler._pending or _Stream(
            self.sampler.epoch + self.sampler._epoch_offset)
        drawn, held = stream.drawn, stream.held or []
        if self._stream is not None:
            if self.delivered not in self._snapshots:
                raise RuntimeError(f'ResumableBatchSampler: no state kept for batch '
                                   f'{self.delivered} of the stream (kept: '
                                   f'{sorted(self._snapshots)}).')
            drawn, held = self._snapshots[self.delivered]
        # opened: the data loader had made its iterator over this stream (drawn its seed)
        return dict(epoch=stream.epoch, start=stream.start, skip=list(stream.skip), drawn=drawn,
                    held=[list(b) for b in held],
                    opened=self._stream is not None or stream.opened)

    def batches_left(self) -> Optional[int]:
        """Batches this process has left in its stream after those delivered (None: endless)."""
        if self.sampler.infinite:
            return None
        place = self.position()
        share = self.sampler.share_length(place['start'], place['skip'], self.sampler.world_size,
                                          self.sampler.rank)
        left = share - place['drawn'] + sum(len(b) for b in place['held'])
        return left // self.batch_size if self.drop_last else math.ceil(left / self.batch_size)

    def describe(self) -> dict:
        """What a resumed run must know of this run's sampling (saved with every position)."""
        s = self.sampler
        return dict(seed=s.seed, dataset_size=s.size, shuffle=s.shuffle, round_up=s.round_up,
                    infinite=s.infinite, world_size=s.world_size, batch_size=self.batch_size,
                    drop_last=self.drop_last, aspect_ratio=self.aspect_ratio)

    def restore(self, state: dict, accumulative_counts: int = 1,
                accept_batch_change: bool = False, logger='current') -> bool:
        """Make the next stream start where the run of ``state`` (:func:`data_state` of its
        processes) stood; see the module's description. Returns whether the saved run had
        begun that stream (False: the resumed run starts a stream, an epoch, afresh)."""
        s = self.sampler
        if state['dataset_size'] != s.size or state['infinite'] != s.infinite:
            raise ValueError(
                f'The checkpoint was trained on a dataset of {state["dataset_size"]} samples'
                f'{" (endless sampler)" if state["infinite"] else ""}; this run has {s.size}'
                f'{" (endless sampler)" if s.infinite else ""}. Resume with the same training '
                f'data, or start a new run with load_from=CHECKPOINT instead of --resume.')
        old_accumulation = state.get('accumulative_counts', 1)
        old = state['world_size'] * state['batch_size'] * old_accumulation
        new = s.world_size * self.batch_size * accumulative_counts
        same_iteration = state['world_size'] * state['batch_size'] == s.world_size * \
            self.batch_size
        if (old != new or not same_iteration) and not accept_batch_change:
            raise ValueError(  # (mmengine counts iterations in data batches, not optimizer steps)
                f'The checkpoint was trained with a global batch of {old} samples '
                f'({_batch_words(state["world_size"], state["batch_size"], old_accumulation)}); '
                f'this run has {new} '
                f'({_batch_words(s.world_size, self.batch_size, accumulative_counts)}). '
                f'Keep it: set train_dataloader.batch_size to '
                f'{_per_process(old // old_accumulation, s.world_size)} for {s.world_size} '
                f'process(es), accumulative_counts {old_accumulation}. Or accept the change '
                f'with tools/train.py --accept-batch-change (default_hooks.checkpoint.accept_batch_change=True): '
                f'the run continues at the saved sample position, and its iteration-based '
                f'schedule (max_iters, milestones, intervals; the learning rate) is yours to '
                f'rescale for the new batch.')
        s.seed = state['seed']
        exact = all(state[k] == v for k, v in self.describe().items() if k != 'seed')
        ranks = state['ranks']
        epoch = ranks[0]['epoch']
        if self._exhausted(state):
            s.resume_at(_Stream(epoch + 1))
            return False
        opened = ranks[0].get('opened', True)
        if exact:
            place = ranks[s.rank]
            s.resume_at(_Stream(epoch, place['start'], place['skip'], place['drawn'],
                                place['held'], opened))
            return opened
        start, skip = trained_positions(state, s)
        print_log(f'Resuming the data of epoch {epoch} on {s.world_size} process(es) x '
                  f'{self.batch_size} (saved: {state["world_size"]} x {state["batch_size"]}): '
                  f'its untrained samples split over the processes anew.', logger=logger)
        s.resume_at(_Stream(epoch, start, skip, opened=opened))
        return opened

    def _exhausted(self, state: dict) -> bool:
        if state['infinite']:
            return False
        s, batch = self.sampler, state['batch_size']
        for rank, place in enumerate(state['ranks']):
            share = s.share_length(place['start'], place['skip'], state['world_size'], rank)
            left = share - place['drawn'] + sum(len(b) for b in place['held'])
            if left >= (batch if state['drop_last'] else 1):
                return False
        return True


def _batch_words(world_size: int, batch_size: int, accumulative_counts: int) -> str:
    words = f'{world_size} process(es) x {batch_size} per process'
    return words + (f' x {accumulative_counts} accumulated' if accumulative_counts != 1 else '')


def _per_process(global_batch: int, world_size: int) -> str:
    if global_batch % world_size == 0:
        return str(global_batch // world_size)
    return f'{global_batch}/{world_size} (not a whole number: use a process count that divides ' \
        f'{global_batch})'


def trained_positions(state: dict, sampler: ResumableSampler) -> Tuple[int, List[int]]:
    """The positions of the saved epoch's stream that the processes of ``state`` trained, as
    ``(start, skip)``: every position before ``start``, and those in ``skip`` after it.
    Samples waiting in batch-sampler buckets count as untrained; padding is not a sample."""
    world_size = state['world_size']
    ranks = state['ranks']
    if all(p['drawn'] == ranks[0]['drawn'] and not any(p['held']) for p in ranks):
        # every process drew as many and holds none back (torch's batching): the stream's first
        # drawn x world_size positions after ``start``, found without walking them
        skip = sorted(p for p in ranks[0]['skip'] if p >= ranks[0]['start'])
        first_left = next(_endless_share(ranks[0]['start'], skip,
                                         ranks[0]['drawn'] * world_size, 1))
        return first_left, [p for p in skip if p > first_left]
    trained = set()
    start = None
    for rank, place in enumerate(state['ranks']):
        start = place['start'] if start is None else start
        held = {p for bucket in place['held'] for p in bucket}
        drawn = sampler.positions(place['epoch'], place['start'], place['skip'], world_size,
                                  rank)
        for _, p in zip(range(place['drawn']), drawn):
            if p not in held:
                trained.add(p)
    place = state['ranks'][0]
    trained.update(place['skip'])
    if not sampler.infinite:
        trained = {p for p in trained if p < sampler.size}
    new_start = start
    while new_start in trained:
        new_start += 1
    return new_start, sorted(p for p in trained if p > new_start)


def data_state(batch_sampler: ResumableBatchSampler, places: List[dict],
               accumulative_counts: int = 1, iteration: Optional[int] = None) -> dict:
    """The record saved with a checkpoint: ``batch_sampler``'s settings and every process's
    :meth:`~ResumableBatchSampler.position` (``places``, in rank order), at the checkpoint's
    ``iteration`` (a resume checks it: a checkpoint re-saved by another hook keeps an old one)."""
    return dict(batch_sampler.describe(), accumulative_counts=accumulative_counts,
                iteration=iteration, ranks=copy.deepcopy(places))


_SAMPLER_KINDS = {'DefaultSampler': False, 'InfiniteSampler': True}


def resumable_loader_cfg(cfg: dict) -> dict:
    """``cfg`` (a training ``train_dataloader``) with mmengine's ``DefaultSampler`` /
    ``InfiniteSampler`` made :class:`ResumableSampler`, the batching (torch's, or mmdet's
    ``AspectRatioBatchSampler``) :class:`ResumableBatchSampler`, and the dataset wrapped in
    :class:`SeededDataset` (built where mmengine builds it). Other samplers are left as they are (and logged: a resumed
    run then draws the batches already trained again, as mmengine does)."""
    sampler = dict(cfg.get('sampler') or {})
    batch = cfg.get('batch_sampler')
    kind = _SAMPLER_KINDS.get(type_name(sampler.get('type')))
    batch_kind = None if batch is None else type_name(batch.get('type'))
    if kind is None or batch_kind not in (None, 'AspectRatioBatchSampler'):
        print_log(f'Training sampler {type_name(sampler.get("type"))}'
                  f'{f" with {batch_kind}" if batch_kind else ""}: a resumed run loads the '
                  f'batches already trained again to reach its position (mmengine\'s resume); '
                  f'DefaultSampler / InfiniteSampler (with AspectRatioBatchSampler) resume at '
                  f'the saved sample position without loading them.', logger='current', level=30)
        return cfg
    cfg = dict(cfg)
    sampler.pop('type')
    cfg['sampler'] = dict(type=ResumableSampler, infinite=kind, **sampler)
    batch = dict(batch or {})
    batch.pop('type', None)
    drop_last = batch.pop('drop_last', cfg.pop('drop_last', False))
    cfg['batch_sampler'] = dict(type=ResumableBatchSampler, drop_last=drop_last,
                                aspect_ratio=batch_kind is not None, **batch)
    cfg['dataset'] = dict(type=SeededDataset, dataset=cfg['dataset'])
    return cfg


def resumable_batch_sampler(runner) -> Optional[ResumableBatchSampler]:
    """The training loader's :class:`ResumableBatchSampler`, if the run has one (and has built
    its training loop)."""
    from mmengine.runner import BaseLoop
    loop = getattr(runner, '_train_loop', None)
    if not isinstance(loop, BaseLoop):
        return None
    batch_sampler = getattr(getattr(loop, 'dataloader', None), 'batch_sampler', None)
    return batch_sampler if isinstance(batch_sampler, ResumableBatchSampler) else None


class DeliveredCounter:
    """An iterator over a data loader's batches that counts, in ``batch_sampler.delivered``,
    those it has handed out (the loader fetches ahead of training). The loader's own iterator
    (which starts the workers, and draws their seed from torch's generator) is made by
    :meth:`start` or the first ``next``: an iterator that a resumed run replaces before using it
    (mmengine's iteration-based loop makes one when it is built) loads nothing."""

    def __init__(self, make_iterator, batch_sampler: ResumableBatchSampler) -> None:
        self._make_iterator, self._batch_sampler = make_iterator, batch_sampler
        self._iterator = None

    def start(self) -> None:
        if self._iterator is None:
            self._iterator = self._make_iterator()

    def __iter__(self):
        return self

    def __next__(self):
        self.start()
        batch = next(self._iterator)
        self._batch_sampler.delivered += 1
        return batch

    def __len__(self):
        return len(self._batch_sampler)
