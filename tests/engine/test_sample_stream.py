"""The resumable data stream (mmtnt.engine.sample_stream), on simulated processes: the order of
mmengine's DefaultSampler, every sample once per epoch on 1 / 2 / 4 / 8 processes, an exact
resume on the same processes, and a resume on another process count that trains every sample
of the epoch once (plain and aspect-ratio batches, finite and endless samplers)."""
import random
from collections import Counter
from itertools import islice

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler

from mmtnt.engine.sample_stream import (ResumableBatchSampler, ResumableSampler, SampleIndex,
                                        SeededDataset, data_state, trained_positions)


class Shapes:
    """A dataset of ``size`` images, some wider than high (for aspect-ratio batching)."""

    def __init__(self, size=37):
        rng = random.Random(size)
        self.infos = [dict(width=rng.choice([30, 60]), height=rng.choice([30, 60]))
                      for _ in range(size)]

    def __len__(self):
        return len(self.infos)

    def __getitem__(self, i):
        return i

    def get_data_info(self, i):
        return self.infos[i]


def batch_samplers(dataset, world_size, batch_size, infinite=False, aspect=False, seed=7,
                   drop_last=False):
    return [ResumableBatchSampler(
        ResumableSampler(dataset, seed=seed, infinite=infinite, rank=r, world_size=world_size),
        batch_size, drop_last=drop_last, aspect_ratio=aspect) for r in range(world_size)]


def train(samplers, iterations, iterators=None):
    """``iterations`` batches on every process (as training takes them); returns the
    positions trained and the iterators (to go on with)."""
    iterators = iterators or [iter(s) for s in samplers]
    trained = []
    for _ in range(iterations):
        for sampler, iterator in zip(samplers, iterators):
            batch = next(iterator, None)
            if batch is None:
                continue
            sampler.delivered += 1
            trained += [(int(i), i.position) for i in batch]
    return trained, iterators


def save(samplers):
    return data_state(samplers[0], [s.position() for s in samplers])


def epoch_batches(samplers):
    return max(len(s) for s in samplers)


def test_finite_order_is_default_samplers(monkeypatch):
    dataset = Shapes(37)
    for world_size in (1, 3):
        for rank in range(world_size):
            monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info',
                                lambda: (rank, world_size))
            expected = DefaultSampler(dataset, shuffle=True, seed=5)
            expected.set_epoch(2)
            ours = ResumableSampler(dataset, seed=5, rank=rank, world_size=world_size)
            ours.set_epoch(2)
            assert [int(i) for i in ours] == list(expected)
            assert len(ours) == len(expected)


@pytest.mark.parametrize('aspect', [False, True])
@pytest.mark.parametrize('world_size', [1, 2, 4, 8])
def test_every_sample_once_per_epoch(world_size, aspect):
    dataset = Shapes(37)
    samplers = batch_samplers(dataset, world_size, batch_size=2, aspect=aspect)
    trained, _ = train(samplers, epoch_batches(samplers) + 1)
    real = Counter(i for i, p in trained if p < len(dataset))
    assert sorted(real) == list(range(len(dataset))) and set(real.values()) == {1}
    padding = [p for _, p in trained if p >= len(dataset)]
    assert len(padding) == -len(dataset) % world_size  # DefaultSampler's round_up
    if aspect:  # a batch holds one orientation (except the rest at the end)
        for batch in islice(iter(samplers[0]), 3):
            assert len({dataset.infos[i]['width'] < dataset.infos[i]['height']
                        for i in batch}) == 1


@pytest.mark.parametrize('infinite', [False, True])
@pytest.mark.parametrize('aspect', [False, True])
def test_resume_on_the_same_processes_is_exact(aspect, infinite):
    dataset = Shapes(37)
    uninterrupted, _ = train(batch_samplers(dataset, 2, 3, infinite, aspect), 20)
    first = batch_samplers(dataset, 2, 3, infinite, aspect)
    before, _ = train(first, 5)
    state = save(first)
    resumed = batch_samplers(dataset, 2, 3, infinite, aspect, seed=999)  # the saved seed wins
    for sampler in resumed:
        assert sampler.restore(state) is True
    after, _ = train(resumed, 15)
    assert before + after == uninterrupted


def test_a_finished_epoch_resumes_at_the_next():
    dataset = Shapes(12)
    samplers = batch_samplers(dataset, 2, 3)
    train(samplers, 2)  # the whole epoch (12 = 2 x 2 x 3)
    state = save(samplers)
    resumed = batch_samplers(dataset, 2, 3)
    for sampler in resumed:
        assert sampler.restore(state) is False
        sampler.sampler.set_epoch(0)  # an iteration-based loop counts from 0 again
    again, _ = train(resumed, 2)
    expected = batch_samplers(dataset, 2, 3)
    for sampler in expected:
        sampler.sampler.set_epoch(1)
    assert again == train(expected, 2)[0]


@pytest.mark.parametrize('aspect', [False, True])
@pytest.mark.parametrize('sizes', [(2, 1), (1, 2), (2, 4), (4, 8), (8, 1), (8, 2)])
def test_another_process_count_trains_every_sample_once(sizes, aspect):
    dataset = Shapes(61)
    old, new = sizes
    global_batch = 8
    first = batch_samplers(dataset, old, global_batch // old, aspect=aspect)
    before, _ = train(first, 3)
    state = save(first)
    resumed = batch_samplers(dataset, new, global_batch // new, aspect=aspect)
    for sampler in resumed:
        assert sampler.restore(state) is True
    after, _ = train(resumed, epoch_batches(resumed) + 1)
    real = Counter(i for i, p in before + after if p < len(dataset))
    assert sorted(real) == list(range(len(dataset))) and set(real.values()) == {1}
    # the epoch keeps its length in iterations: 3 + what is left = ceil(61 / 8)
    assert [s.delivered for s in resumed] == [8 - 3] * new
    assert [s.batches_left() for s in resumed] == [0] * new


def test_twice_resumed_on_other_counts_with_buckets_in_between():
    dataset = Shapes(101)
    runs = [(2, 4), (1, 8), (4, 2)]
    trained, state = [], None
    for world_size, batch_size in runs:
        samplers = batch_samplers(dataset, world_size, batch_size, aspect=True)
        if state is not None:
            for sampler in samplers:
                sampler.restore(state)
        done, _ = train(samplers, 4)
        trained += done
        state = save(samplers)
    samplers = batch_samplers(dataset, 8, 1, aspect=True)
    for sampler in samplers:
        sampler.restore(state)
    rest, _ = train(samplers, 1000)
    real = Counter(i for i, p in trained + rest if p < len(dataset))
    assert sorted(real) == list(range(len(dataset))) and set(real.values()) == {1}


def test_endless_stream_on_another_process_count_skips_nothing():
    dataset = Shapes(10)
    first = batch_samplers(dataset, 2, 3, infinite=True, aspect=True)
    before, _ = train(first, 7)  # 42 positions: into the fifth pass over the data
    state = save(first)
    resumed = batch_samplers(dataset, 3, 2, infinite=True, aspect=True)
    for sampler in resumed:
        sampler.restore(state)
    after, _ = train(resumed, 10)
    positions = [p for _, p in before + after]
    assert len(set(positions)) == len(positions)  # none twice
    state = save(resumed)
    held = {p for place in state['ranks'] for bucket in place['held'] for p in bucket}
    gaps = set(range(max(positions))) - set(positions)
    assert gaps <= held  # none skipped: what is missing waits in a bucket
    start, skip = trained_positions(state, resumed[0].sampler)
    assert set(range(start)) | set(skip) == set(positions)


def test_endless_share_jumps_to_its_position_without_walking():
    sampler = ResumableSampler(Shapes(10), seed=1, infinite=True, rank=1, world_size=3)
    skip = [4, 5, 9, 30, 31]
    brute = [p for p in range(2, 400) if p not in skip][1::3]
    assert list(islice(sampler.positions(0, 2, skip, 3, 1), 50)) == brute[:50]
    assert list(islice(sampler.positions(0, 2, skip, 3, 1, drawn=20), 10)) == brute[20:30]
    far = ResumableSampler(Shapes(118287), seed=1, infinite=True, rank=0, world_size=8)
    position = next(far.positions(0, 0, [], 8, 0, drawn=10**9))  # 8e9 samples in: at once
    assert position == 8 * 10**9


def test_another_global_batch_is_refused_unless_accepted():
    dataset = Shapes(37)
    first = batch_samplers(dataset, 2, 4)
    before, _ = train(first, 2)
    state = save(first)
    other = batch_samplers(dataset, 1, 4)
    with pytest.raises(ValueError, match=r'global batch of 8 samples.*this run has 4.*'
                       r'batch_size to 8.*--accept-batch-change'):
        other[0].restore(state)
    with pytest.raises(ValueError, match='accumulative_counts'):
        batch_samplers(dataset, 1, 8)[0].restore(state, accumulative_counts=2)
    other[0].restore(state, accept_batch_change=True)
    after, _ = train(other, 100)
    real = Counter(i for i, p in before + after if p < len(dataset))
    assert set(real.values()) == {1} and len(real) == len(dataset)
    with pytest.raises(ValueError, match='dataset of 37 samples; this run has 36'):
        batch_samplers(Shapes(36), 2, 4)[0].restore(state)


class NoisyItems:

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return (i, np.random.rand(), random.random(), float(torch.rand(())))


def test_seeded_items_depend_on_the_sample_not_on_what_came_before():
    dataset = SeededDataset(NoisyItems())
    sampler = ResumableSampler(dataset, seed=3, rank=0, world_size=1)
    order = list(sampler)
    state = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    forward = {int(i): dataset[i] for i in order}
    backward = {int(i): dataset[i] for i in reversed(order)}
    assert forward == backward
    assert len({v[1] for v in forward.values()}) == 5  # each sample its own draws
    assert torch.equal(state[0], torch.get_rng_state())  # the process's state is untouched
    assert (state[1] == np.random.get_state()[1]).all() and state[2] == random.getstate()
    sampler.set_epoch(1)
    assert {int(i): dataset[i] for i in sampler} != forward  # another epoch, other draws
    assert isinstance(order[0], SampleIndex) and order[0].seed == \
        ResumableSampler(dataset, seed=3, rank=0, world_size=1).sample(0, 0).seed


def test_the_saved_seed_wins_over_an_order_already_drawn():
    """A resumed run's loader may draw (and cache) epoch 0 with its own seed before the
    checkpoint is loaded (mmengine makes an iteration-based loop's iterator when it builds it)."""
    dataset = Shapes(10)
    uninterrupted, _ = train(batch_samplers(dataset, 1, 2, infinite=True), 4)
    first = batch_samplers(dataset, 1, 2, infinite=True)
    before, _ = train(first, 2)
    resumed = batch_samplers(dataset, 1, 2, infinite=True, seed=12345)
    train(resumed, 1)  # the new run's own order, drawn before the resume
    resumed[0].restore(save(first))
    after, _ = train(resumed, 2)
    assert before + after == uninterrupted


def test_the_seeded_dataset_passes_attributes_on():
    """mmdet's PipelineSwitchHook sets ``train_dataloader.dataset.pipeline``."""
    inner = Shapes(3)
    dataset = SeededDataset(inner)
    dataset.pipeline = 'switched'
    assert inner.pipeline == 'switched' and dataset.pipeline == 'switched'
    assert dataset.dataset is inner
