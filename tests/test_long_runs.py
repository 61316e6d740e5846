"""Faults a long run must survive: signals mid-iteration and mid-validation (one and two
processes), a save killed half way, a full disk, corrupt checkpoints; and the exact resume."""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook

from mmtnt.engine import (PREEMPTED_EXIT_CODE, AtomicLocalBackend, CheckpointUnreadableError,
                          PreemptionHook, atomic_write, checkpoint_problem,
                          find_resumable_checkpoint)
from tiny_runner import SendSignal, build_runner, parameters

ROOT = Path(__file__).parents[1]
TINY = str(Path(__file__).parent / 'tiny_runner.py')


def _assert_same(a: dict, b: dict, atol=0.):
    assert a.keys() == b.keys()
    for k in a:
        diff = (a[k].double() - b[k].double()).abs().max().item()
        assert diff <= atol, f'{k}: max abs difference {diff}'


def _stop(runner):
    with pytest.raises(SystemExit) as stop:
        runner.train()
    assert stop.value.code == PREEMPTED_EXIT_CODE
    return runner


def _checkpoints(work):
    return sorted(p.name for p in Path(work).glob('*.pth'))


# -- atomic writes and readable checkpoints --------------------------------------------------


def test_mmengine_local_writes_are_atomic():
    assert isinstance(get_file_backend('/tmp/some/file.pth'), AtomicLocalBackend)


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'iter_4.pth'
    atomic_write(str(path), b'old complete checkpoint')
    import mmtnt.engine.safe_checkpoint as safe_checkpoint

    def full_disk(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(safe_checkpoint.os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space left'):
        atomic_write(str(path), b'new checkpoint' * 1000)
    assert path.read_bytes() == b'old complete checkpoint'
    assert [p.name for p in tmp_path.iterdir()] == ['iter_4.pth']  # no partial file left


def test_checkpoint_problem_finds_truncated_and_corrupted_files(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(5000.)}}, good)
    data = good.read_bytes()
    assert checkpoint_problem(str(good)) is None
    (tmp_path / 'truncated.pth').write_bytes(data[:len(data) // 2])
    assert 'not a complete checkpoint archive' in checkpoint_problem(str(tmp_path / 'truncated.pth'))
    flipped = bytearray(data)
    start = data.index(torch.arange(5000.).numpy().tobytes()[:64])  # inside the tensor's bytes
    flipped[start + 100] ^= 0xFF
    (tmp_path / 'flipped.pth').write_bytes(bytes(flipped))
    assert 'CRC' in checkpoint_problem(str(tmp_path / 'flipped.pth'))
    assert checkpoint_problem(str(tmp_path / 'missing.pth')) == 'no such file'


def test_find_resumable_checkpoint_skips_unreadable_newest(tmp_path, capsys):
    assert find_resumable_checkpoint(str(tmp_path)) is None  # nothing there: a fresh start
    torch.save({'meta': {'iter': 4}}, tmp_path / 'iter_4.pth')
    time.sleep(0.01)
    torch.save({'meta': {'iter': 8}}, tmp_path / 'iter_8.pth')
    data = (tmp_path / 'iter_8.pth').read_bytes()
    (tmp_path / 'iter_8.pth').write_bytes(data[:-200])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    with pytest.raises(CheckpointUnreadableError, match='none reads back completely'):
        find_resumable_checkpoint(str(tmp_path))


@pytest.mark.parametrize('kwargs, match', [(dict(signals=['SIGNOPE']), 'unknown signal'),
                                           (dict(signals=[]), 'empty'),
                                           (dict(exit_code=0), 'exit_code')])
def test_preemption_hook_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreemptionHook(**kwargs)


def test_preemption_hook_needs_the_safe_checkpoint_hook(tmp_path):
    runner = build_runner(tmp_path)
    runner._hooks = [h for h in runner.hooks if type(h).__name__ != 'SafeCheckpointHook']
    from mmengine.hooks import CheckpointHook
    runner.register_hook(CheckpointHook(interval=4), 'VERY_LOW')
    with pytest.raises(TypeError, match='SafeCheckpointHook'):
        runner.train()


# -- pruning, corrupt latest, kill during save -----------------------------------------------


def test_old_checkpoints_pruned_only_after_the_new_one(tmp_path, monkeypatch):
    """With max_keep_ckpts=1 a failing save leaves the previous checkpoint, and the run's
    error says so (mmengine deletes it first)."""
    runner = build_runner(tmp_path, max_iters=8, interval=4, max_keep_ckpts=1)
    import mmtnt.engine.safe_checkpoint as safe_checkpoint
    real_write = safe_checkpoint.atomic_write

    def write(path, data, **kwargs):
        if path.endswith('iter_8.pth'):
            raise OSError(errno.ENOSPC, 'No space left on device')
        real_write(path, data, **kwargs)

    monkeypatch.setattr(safe_checkpoint, 'atomic_write', write)
    with pytest.raises(OSError, match='checkpoints already written are intact'):
        runner.train()
    assert _checkpoints(tmp_path) == ['iter_4.pth']
    assert checkpoint_problem(str(tmp_path / 'iter_4.pth')) is None
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_4.pth')


def test_resume_skips_a_corrupt_latest_checkpoint(tmp_path):
    build_runner(tmp_path, max_iters=8, interval=4).train()
    latest = tmp_path / 'iter_8.pth'
    latest.write_bytes(latest.read_bytes()[:1000])
    runner = build_runner(tmp_path, max_iters=12, interval=4, resume=True)
    runner.train()
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert f'skipped {latest}: not a complete checkpoint archive' in log
    assert f'Resuming from {tmp_path / "iter_4.pth"}' in log
    assert runner.iter == 12 and checkpoint_problem(str(tmp_path / 'iter_12.pth')) is None


def test_resume_refuses_a_work_dir_of_unreadable_checkpoints(tmp_path):
    build_runner(tmp_path, max_iters=4, interval=4).train()
    (tmp_path / 'iter_4.pth').write_bytes(b'PK\x03\x04 cut')
    with pytest.raises(CheckpointUnreadableError, match='none reads back completely'):
        build_runner(tmp_path, max_iters=8, resume=True).train()
    runner = build_runner(tmp_path, max_iters=8, resume=True)
    runner._load_from = str(tmp_path / 'iter_4.pth')  # --resume PATH
    with pytest.raises(CheckpointUnreadableError, match='Cannot resume from'):
        runner.train()


def test_kill_during_save_keeps_the_previous_checkpoint(tmp_path):
    """SIGKILL while the second checkpoint is being written (its bytes written, not renamed):
    the first checkpoint and last_checkpoint stand, the resume removes the partial file."""
    proc = subprocess.run([sys.executable, TINY, str(tmp_path), '--max-iters', '12',
                           '--interval', '4', '--max-keep-ckpts', '1', '--die-in-save', '2'],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _checkpoints(tmp_path) == ['iter_4.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_4.pth')
    partial = [p for p in tmp_path.iterdir() if '.partial-' in p.name]
    assert len(partial) == 1 and partial[0].name.startswith('.iter_8.pth')
    runner = build_runner(tmp_path, max_iters=12, interval=4, max_keep_ckpts=1, resume=True)
    runner.train()
    assert runner.iter == 12 and _checkpoints(tmp_path) == ['iter_12.pth']
    assert not [p for p in tmp_path.iterdir() if '.partial-' in p.name]


# -- signals and the exact resume ------------------------------------------------------------


class ValidatedAt(Hook):

    def __init__(self):
        self.at = []

    def after_val_epoch(self, runner, metrics=None):
        self.at.append(runner.iter)



@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """Parameters after 12 iterations (validation after 6), and after 3 epochs of 6 batches."""
    out = {}
    for by_epoch in (False, True):
        runner = build_runner(tmp_path_factory.mktemp('full'), max_iters=18 if by_epoch else 12,
                              by_epoch=by_epoch, val_interval=1 if by_epoch else 6)
        runner.train()
        out[by_epoch] = parameters(runner)
    return out


@pytest.mark.parametrize('stop_iteration', [2, 4, 7])
def test_signal_mid_iteration_then_exact_resume(tmp_path, uninterrupted, stop_iteration):
    """SIGTERM during iteration k+1 (0-based k): a checkpoint of iteration k+1 (or the periodic
    one of that iteration), exit 75; the resumed run ends with the uninterrupted run's weights."""
    runner = _stop(build_runner(tmp_path, val_interval=6, hooks=[SendSignal(stop_iteration)]))
    done = stop_iteration + 1
    assert runner.iter == stop_iteration  # stopped inside after_train_iter of that iteration
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / f'iter_{done}.pth')
    resumed = build_runner(tmp_path, val_interval=6, resume=True)
    resumed.train()
    assert resumed.iter == 12
    _assert_same(parameters(resumed), uninterrupted[False])


def test_signal_during_validation_reruns_it_and_resumes_exactly(tmp_path, uninterrupted):
    """SIGUSR1 in the third validation batch after iteration 6, and again during the save: the
    checkpoint of iteration 6 is rewritten complete, the resumed run validates first."""
    hook = SendSignal(6, val_batch=2, sig=signal.SIGUSR1, again_in_save=True)
    _stop(build_runner(tmp_path, val_interval=6, hooks=[hook]))
    assert checkpoint_problem(str(tmp_path / 'iter_6.pth')) is None
    validations = ValidatedAt()
    resumed = build_runner(tmp_path, val_interval=6, resume=True, hooks=[validations])
    resumed.train()
    assert validations.at == [6, 12]  # the interrupted one first
    _assert_same(parameters(resumed), uninterrupted[False])


@pytest.mark.parametrize('stop_iteration', [3, 8])
def test_epoch_based_resume_in_the_middle_of_an_epoch(tmp_path, uninterrupted, stop_iteration):
    """EpochBasedTrainLoop: a stop in the middle of an epoch resumes at its next batch."""
    _stop(build_runner(tmp_path, max_iters=18, by_epoch=True, val_interval=1,
                       hooks=[SendSignal(stop_iteration)]))
    epoch, done = stop_iteration // 6, stop_iteration + 1
    assert (tmp_path / f'epoch_{epoch + 1}_iter_{done}.pth').exists()
    resumed = build_runner(tmp_path, max_iters=18, by_epoch=True, val_interval=1, resume=True)
    resumed.train()
    assert resumed.iter == 18 and resumed.epoch == 3
    _assert_same(parameters(resumed), uninterrupted[True])
    # the next periodic checkpoint replaced the one of the stop
    assert not (tmp_path / f'epoch_{epoch + 1}_iter_{done}.pth').exists()


def _start_ranks(work, port, *extra):
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), PYTHONUNBUFFERED='1')
    procs = []
    for rank in range(2):
        log = open(Path(work).parent / f'{Path(work).name}_rank{rank}_{port}.log', 'w+')
        env_rank = dict(env, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2')
        procs.append((subprocess.Popen(
            [sys.executable, TINY, str(work), '--world-size', '2', '--rank', str(rank), *extra],
            cwd=ROOT, env=env_rank, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def _finish(procs, returncode):
    outs = []
    for proc, log in procs:
        proc.wait(timeout=180)
        log.seek(0)
        outs.append(log.read())
        log.close()
        assert proc.returncode == returncode, outs[-1][-3000:]
    return outs


@pytest.mark.slow
def test_two_processes_stop_together_on_a_signal_to_one_rank(tmp_path):
    """SIGTERM to rank 1 only, sent from outside while both train: both ranks stop at the same
    iteration with status 75, one checkpoint of it, no hang; the resume finishes the run."""
    work = tmp_path / 'work'
    port = 29600 + os.getpid() % 1000
    procs = _start_ranks(work, port, '--max-iters', '400', '--interval', '200', '--slow', '0.05')
    log1 = procs[1][1]
    deadline = time.time() + 120
    while 'rank 1 finished iteration 3' not in Path(log1.name).read_text():
        assert time.time() < deadline and procs[1][0].poll() is None, Path(log1.name).read_text()
        time.sleep(0.1)
    procs[1][0].send_signal(signal.SIGTERM)
    outs = _finish(procs, PREEMPTED_EXIT_CODE)
    last = [int(o.split('finished iteration ')[-1].split()[0]) for o in outs]
    assert last[0] == last[1] < 400, last
    assert _checkpoints(work) == [f'iter_{last[0]}.pth']
    assert checkpoint_problem(str(work / f'iter_{last[0]}.pth')) is None
    _finish(_start_ranks(work, port + 1, '--max-iters', str(last[0] + 3), '--interval', '100',
                         '--resume'), 0)
    assert f'iter_{last[0] + 3}.pth' in _checkpoints(work)


# -- mixed precision ---------------------------------------------------------------------------


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_autocast_optim_wrapper_trains_on_cpu(tmp_path, dtype):
    runner = build_runner(tmp_path, max_iters=4, interval=4, amp=dtype)
    before = parameters(runner)
    runner.train()
    wrapper = runner.optim_wrapper
    assert type(wrapper).__name__ == 'AutocastOptimWrapper' and wrapper.device_type == 'cpu'
    assert wrapper.cast_dtype == getattr(torch, dtype)
    assert wrapper.loss_scaler.is_enabled() == (dtype == 'float16')
    after = parameters(runner)
    assert all(torch.isfinite(v).all() for v in after.values())
    assert any((after[k] != before[k]).any() for k in after)
    resumed = build_runner(tmp_path, max_iters=6, interval=2, amp=dtype, resume=True)
    resumed.train()
    assert resumed.iter == 6


@pytest.mark.parametrize('kwargs, error', [(dict(dtype='float64'), ValueError),
                                           (dict(device_type='mps'), ValueError),
                                           (dict(dtype='float16', loss_scale=[1]), TypeError)])
def test_autocast_optim_wrapper_rejects_bad_arguments(kwargs, error):
    from mmtnt.engine import AutocastOptimWrapper
    model = torch.nn.Linear(2, 2)
    with pytest.raises(error, match='AutocastOptimWrapper'):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)
