"""mmengine checkpoints load with torch's weights_only=True once mmtnt is imported."""
import pickle

import pytest
import torch
from mmengine.runner import Runner

import mmtnt

from helpers.toy_model import ToyModel, toy_dataset


@pytest.fixture
def runner_checkpoint(tmp_path):
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), experiment_name='ckpt_compat',
        train_dataloader=dict(dataset=toy_dataset(),
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=100),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False)),
        randomness=dict(seed=0))
    runner.train()
    return tmp_path / 'iter_4.pth'


def test_weights_only_load_of_runner_checkpoint(runner_checkpoint):
    ckpt = torch.load(runner_checkpoint, weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert 'message_hub' in ckpt and 'optimizer' in ckpt


def test_without_allow_list_it_fails(runner_checkpoint):
    """The allow-list is what makes the load work (so the test above can fail)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError):
            torch.load(runner_checkpoint, weights_only=True)
    finally:
        torch.serialization.add_safe_globals(saved)
    mmtnt.allow_safe_checkpoint_globals()


def test_resume_from_runner_checkpoint(runner_checkpoint, tmp_path):
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path / 'resumed'), experiment_name='ckpt_resume',
        train_dataloader=dict(dataset=toy_dataset(),
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=100),
        load_from=str(runner_checkpoint), resume=True, randomness=dict(seed=0))
    runner.train()
    assert runner.iter == 6


def test_restricted_getattr_refuses_other_attributes():
    from mmtnt.checkpoint.safe_globals import history_buffer_getattr
    from mmengine.logging.history_buffer import HistoryBuffer
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refused'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='refused'):
        history_buffer_getattr(torch, 'load')
