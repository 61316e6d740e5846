"""Every stop point resumes to the uninterrupted run: the same weights (EMA's too), iteration
count, validation results and checkpoint files. The tiny run of tests/helpers/tiny_runner.py, in
process: iteration-based (12 iterations, checkpoints every 4, at most 2 kept, validation after 6
and 12) and epoch-based (3 epochs of 6 batches, a checkpoint and a validation after each epoch)."""
import signal
from pathlib import Path

import pytest
from mmengine.hooks import EMAHook, Hook

from mmtnt.engine import PREEMPTED_EXIT_CODE

from helpers.tiny_runner import SendSignal, build_runner, parameters, release_workers

ITER = dict(max_iters=12, val_interval=6)
EPOCH = dict(max_iters=18, by_epoch=True, val_interval=1)


class RecordValidations(Hook):
    """Append (iteration, epoch, metrics) of every finished validation to ``into``."""

    priority = 'VERY_LOW'  # before PreemptionHook, which may stop the run after a validation

    def __init__(self, into: list) -> None:
        self.into = into

    def after_val_epoch(self, runner, metrics=None):
        self.into.append((runner.iter, runner.epoch, dict(metrics)))


def _outcome(runner, validations, work):
    ema = [h for h in runner.hooks if isinstance(h, EMAHook)]
    return dict(weights=parameters(runner),
                ema=parameters(ema[0].ema_model) if ema else None,
                iter=runner.iter, epoch=runner.epoch, validations=validations,
                files=sorted(p.name for p in Path(work).glob('*.pth')),
                last=Path((Path(work) / 'last_checkpoint').read_text()).name)


def _train(work, stops=(), **kwargs):
    """Train, stopping (exit 75) at each of ``stops`` (SendSignal's arguments) and resuming."""
    validations = []
    for start, stop in enumerate(list(stops) + [None]):
        hooks = [RecordValidations(validations)] + ([SendSignal(**stop)] if stop else [])
        runner = build_runner(work, resume=start > 0, hooks=hooks, **kwargs)
        try:
            if stop is None:
                runner.train()
                continue
            with pytest.raises(SystemExit) as exit_:
                runner.train()
            assert exit_.value.code == PREEMPTED_EXIT_CODE, stop
        finally:
            release_workers(runner)
    return _outcome(runner, validations, work)


def _assert_same_run(resumed, full):
    assert resumed['iter'] == full['iter'] and resumed['epoch'] == full['epoch']
    for name in ('weights', 'ema'):
        if full[name] is None:
            assert resumed[name] is None
            continue
        assert resumed[name].keys() == full[name].keys()
        for k in full[name]:
            assert (resumed[name][k] == full[name][k]).all(), f'{name}: {k} differs'
    assert resumed['validations'] == full['validations']
    assert resumed['files'] == full['files'] and resumed['last'] == full['last']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    cache = {}

    def get(name, **kwargs):
        if name not in cache:
            cache[name] = _train(tmp_path_factory.mktemp(name), **kwargs)
        return cache[name]

    return get


@pytest.mark.parametrize('iteration', [0, 4, 5, 7, 11],
                         ids=['first', 'middle', 'validation-point', 'checkpoint-point', 'last'])
def test_iteration_based_stop_points(tmp_path, uninterrupted, iteration):
    """A stop in iteration ``iteration`` (0-based): after 6 and 12 a validation is due (it runs
    first on resume), after 8 and 12 a periodic checkpoint was just written."""
    full = uninterrupted('iter', **ITER)
    assert [v[0] for v in full['validations']] == [6, 12] and full['files'] == ['iter_12.pth',
                                                                                 'iter_8.pth']
    _assert_same_run(_train(tmp_path, [dict(iteration=iteration)], **ITER), full)


@pytest.mark.parametrize('iteration', [5, 6, 8, 17],
                         ids=['last-of-epoch', 'first-of-epoch', 'middle', 'last'])
def test_epoch_based_stop_points(tmp_path, uninterrupted, iteration):
    """The last iteration of an epoch stops at the epoch's end (its checkpoint, validation and
    count belong to it; the epoch does not train again)."""
    full = uninterrupted('epoch', **EPOCH)
    assert [v[1] for v in full['validations']] == [1, 2, 3]
    _assert_same_run(_train(tmp_path, [dict(iteration=iteration)], **EPOCH), full)


@pytest.mark.parametrize('loop, stops', [('iter', [2, 8]), ('epoch', [8, 11])],
                         ids=['iteration-based', 'epoch-based-in-the-resumed-epoch'])
def test_two_stops_in_one_run(tmp_path, uninterrupted, loop, stops):
    """The second epoch-based stop falls on the last iteration of the epoch the run resumed in
    the middle of."""
    settings = ITER if loop == 'iter' else EPOCH
    full = uninterrupted(loop, **settings)
    _assert_same_run(_train(tmp_path, [dict(iteration=i) for i in stops], **settings), full)


def test_stop_during_the_pending_validation_of_a_restart(tmp_path, uninterrupted):
    """Stopped at an epoch's end with its validation pending, then stopped again during that
    validation after the restart: the periodic checkpoint of the epoch is rewritten, not taken
    for a stop's own (and removed later)."""
    settings = dict(EPOCH, max_keep_ckpts=3)
    full = uninterrupted('epoch_keep3', **settings)
    assert full['files'] == ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth']
    stops = [dict(iteration=5), dict(iteration=6, val_batch=1)]
    _assert_same_run(_train(tmp_path, stops, **settings), full)


@pytest.mark.parametrize('loop', ['iter', 'epoch'])
def test_stop_during_validation_with_ema(tmp_path, uninterrupted, loop):
    """SIGUSR1 in a validation batch, and again during the save, with EMAHook on: the checkpoint
    holds the training weights (not the averaged ones swapped in for validation), the
    validation runs again first on resume."""
    settings = dict(ITER if loop == 'iter' else EPOCH, ema=True)
    full = uninterrupted(f'{loop}_ema', **settings)
    stop = dict(iteration=6 if loop == 'iter' else 12, val_batch=2, sig=signal.SIGUSR1,
                again_in_save=True)
    _assert_same_run(_train(tmp_path, [stop], **settings), full)


@pytest.mark.parametrize('loop', ['iter', 'epoch'])
def test_resume_loads_no_batch_already_trained(tmp_path, uninterrupted, loop):
    """Resumed at iteration 10 of 12 (epoch-based: 10 of 18, in the middle of epoch 2), the run
    makes only the samples it trains and validates; the result is the uninterrupted run's."""
    settings = ITER if loop == 'iter' else EPOCH
    full = uninterrupted(loop, **settings)
    work = tmp_path / 'work'
    runner = build_runner(work, hooks=[SendSignal(9)], **settings)
    with pytest.raises(SystemExit):
        runner.train()
    runner = build_runner(work, resume=True, **settings)
    runner.train()
    trained = (settings['max_iters'] - 10) * 4
    validated = 24 * (1 if loop == 'iter' else 2)  # after 12 / after epochs 2 and 3
    assert runner.train_dataloader.dataset.reads == trained
    assert runner.val_dataloader.dataset.reads == validated
    assert runner.iter == full['iter']
    for k, v in full['weights'].items():
        assert (parameters(runner)[k] == v).all()


@pytest.mark.slow
@pytest.mark.parametrize('loop, iteration', [('iter', 8), ('iter', 5), ('epoch', 8),
                                             ('epoch', 5)],
                         ids=['iter-middle', 'iter-validation-point', 'epoch-middle',
                              'epoch-last-of-epoch'])
def test_stop_with_persistent_data_loader_workers(tmp_path, uninterrupted, loop, iteration):
    """Augmentation drawn in two persistent workers: seeded per sample, so the resumed run
    (new workers) draws what the uninterrupted run drew. (The validation data of the tiny run
    draws noise too, which persistent validation workers would carry from one validation to the
    next: it is loaded in the main process here.)"""
    settings = dict(ITER if loop == 'iter' else EPOCH, num_workers=2, val_workers=0)
    full = uninterrupted(f'{loop}_workers', **settings)
    _assert_same_run(_train(tmp_path, [dict(iteration=iteration)], **settings), full)
