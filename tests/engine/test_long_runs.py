"""Faults a long run must survive: signals mid-iteration and mid-validation (one and two
processes), a save killed half way, a full disk, corrupt checkpoints; and the exact resume."""
import errno
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import BaseStorageBackend
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmtnt.engine import (PREEMPTED_EXIT_CODE, AtomicLocalBackend, CheckpointUnreadableError,
                          PreemptionHook, atomic_write, checkpoint_problem,
                          find_resumable_checkpoint)
from mmtnt.engine import atomic_io

from helpers import HELPERS, ROOT
from helpers.tiny_runner import SendSignal, build_runner, parameters

TINY = str(HELPERS / 'tiny_runner.py')


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

    def full_disk(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(atomic_io.os, 'fsync', full_disk)
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


def test_find_resumable_checkpoint_follows_the_runs_records(tmp_path):
    """last_checkpoint, then checkpoint_history: the newest recorded complete checkpoint; a
    newer file copied into the work dir (published weights) is not a candidate."""
    from mmtnt.engine.resume import record_checkpoint
    assert find_resumable_checkpoint(str(tmp_path)) is None  # nothing there: a fresh start
    for it in (4, 8):
        torch.save({'meta': {'iter': it}}, tmp_path / f'iter_{it}.pth')
        record_checkpoint(str(tmp_path), str(tmp_path / f'iter_{it}.pth'))
    data = (tmp_path / 'iter_8.pth').read_bytes()
    (tmp_path / 'iter_8.pth').write_bytes(data[:-200])
    time.sleep(0.01)
    torch.save({'state_dict': {}}, tmp_path / 'tnt_s_imagenet.pth')  # newest, complete
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    with pytest.raises(CheckpointUnreadableError, match='none reads back completely') as e:
        find_resumable_checkpoint(str(tmp_path))
    assert 'empty file' in str(e.value) and 'tnt_s_imagenet' not in str(e.value)


@pytest.mark.parametrize('kwargs, match', [(dict(signals=['SIGNOPE']), 'unknown signal'),
                                           (dict(signals=[9]), 'can catch'),
                                           (dict(signals=[999]), 'can catch'),
                                           (dict(exit_code=True), 'exit_code'),
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
    real_write = atomic_io.atomic_write

    def write(path, data, **kwargs):
        if path.endswith('iter_8.pth'):
            raise OSError(errno.ENOSPC, 'No space left on device')
        real_write(path, data, **kwargs)

    monkeypatch.setattr(atomic_io, 'atomic_write', write)
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
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
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


def _start_ranks(work, port, *extra, world_size=2):
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), PYTHONUNBUFFERED='1')
    procs = []
    for rank in range(world_size):
        log = open(Path(work).parent / f'{Path(work).name}_rank{rank}_{port}.log', 'w+')
        env_rank = dict(env, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
        procs.append((subprocess.Popen(
            [sys.executable, TINY, str(work), '--world-size', str(world_size), '--rank',
             str(rank), *extra],
            cwd=ROOT, env=env_rank, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def _finish(procs, returncode):
    outs = []
    for proc, log in procs:
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:  # a hang: leave no process behind
            for other, _ in procs:
                other.kill()
            raise
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


def _global_batches(record, world_size):
    """The samples of each iteration, over all ranks (``RecordSamples`` files)."""
    ranks = [Path(f'{record}.{r}').read_text().split('\n')[:-1] for r in range(world_size)]
    return [sorted(int(i) for lines in ranks for i in lines[k].split())
            for k in range(len(ranks[0]))]


@pytest.mark.slow
@pytest.mark.parametrize('sizes', [(2, 1), (1, 2)], ids=['2-to-1', '1-to-2'])
def test_resume_on_another_process_count(tmp_path, sizes):
    """Stopped after 5 of 12 iterations on ``old`` gloo processes (global batch 8) and resumed on
    ``new``: every iteration trains the samples the unchanged run trained (none skipped, none
    twice); the weights differ from the unchanged run's by the dropout draws of another process
    layout (printed)."""
    old, new = sizes
    port = 29700 + os.getpid() % 200 + 10 * old
    common = ('--max-iters', '12', '--interval', '12')
    full, work = tmp_path / 'full', tmp_path / 'work'
    _finish(_start_ranks(full, port, *common, '--batch-size', str(8 // old), '--record',
                         str(tmp_path / 'full'), world_size=old), 0)
    _finish(_start_ranks(work, port + 1, *common, '--batch-size', str(8 // old), '--stop-at', '4',
                         '--record', str(tmp_path / 'first'), world_size=old),
            PREEMPTED_EXIT_CODE)
    if new == 2:  # another global batch is refused on every rank (nothing written)
        outs = _finish(_start_ranks(work, port + 3, *common, '--batch-size', '8', '--resume',
                                    world_size=new), 1)
        assert 'The checkpoint was trained with a global batch of 8 samples' in outs[0]
    outs = _finish(_start_ranks(work, port + 2, *common, '--batch-size', str(8 // new),
                                '--resume', '--record', str(tmp_path / 'resumed'),
                                world_size=new), 0)
    assert 'untrained samples split over the processes anew' in outs[0]
    resumed = _global_batches(tmp_path / 'first', old) + _global_batches(tmp_path / 'resumed',
                                                                         new)
    assert resumed == _global_batches(tmp_path / 'full', old)
    load = partial(torch.load, map_location='cpu', weights_only=True)
    a, b = load(full / 'iter_12.pth')['state_dict'], load(work / 'iter_12.pth')['state_dict']
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f'{old} -> {new} processes: weights after 12 iterations differ from the unchanged '
          f'run by at most {diff:.3g}')


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


# -- the run's files: leftovers, modes, links, remote out_dir, fresh starts --------------------


def _partial(directory, name, pid, age=0.):
    path = Path(directory) / f'.{name}.partial-{atomic_io._host()}-{pid}-abc123'
    path.write_bytes(b'half a checkpoint')
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_partial_files_of_live_writers_are_kept(tmp_path):
    """A training removes partial files whose writer is gone (a dead process of this host, or
    untouched for an hour), never one a live process is writing; validation and test runs
    remove none."""
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    dead_file = _partial(tmp_path, 'iter_4.pth', dead)
    live_file = _partial(tmp_path, 'iter_8.pth', os.getpid())
    old_file = _partial(tmp_path, 'iter_2.pth', os.getpid(), age=2 * atomic_io.STALE_SECONDS)
    runner = build_runner(tmp_path, max_iters=4)
    runner.val()
    assert dead_file.exists() and live_file.exists() and old_file.exists()
    runner = build_runner(tmp_path, max_iters=4)
    runner.train()
    assert not dead_file.exists() and not old_file.exists() and live_file.exists()


def test_written_files_keep_the_umask_and_links(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(str(tmp_path / 'new.txt'), 'a')
    finally:
        os.umask(old)
    assert (tmp_path / 'new.txt').stat().st_mode & 0o777 == 0o640
    (tmp_path / 'new.txt').chmod(0o604)
    atomic_write(str(tmp_path / 'new.txt'), 'b')  # a replaced file keeps its mode
    assert (tmp_path / 'new.txt').stat().st_mode & 0o777 == 0o604
    (tmp_path / 'shared').mkdir()
    target = tmp_path / 'shared' / 'last_checkpoint'
    target.write_text('old')
    link = tmp_path / 'last_checkpoint'
    link.symlink_to(target)
    atomic_write(str(link), 'new')  # written through the link
    assert link.is_symlink() and target.read_text() == 'new'


class MemoryBackend(BaseStorageBackend):
    """A stand-in for a remote file backend (s3://, petrel): files in a dict."""

    files: dict = {}

    def __init__(self, **kwargs):
        pass

    def get_text(self, filepath, encoding='utf-8'):
        return self.get(filepath).decode(encoding)

    def put(self, obj, filepath):
        self.files[str(filepath)] = bytes(obj)

    def put_text(self, obj, filepath, encoding='utf-8'):
        self.put(obj.encode(encoding), filepath)

    def get(self, filepath):
        return self.files[str(filepath)]

    def exists(self, filepath):
        return str(filepath) in self.files

    isfile = exists

    def isdir(self, filepath):
        return True

    def remove(self, filepath):
        self.files.pop(str(filepath))

    def join_path(self, filepath, *parts):
        return '/'.join([str(filepath).rstrip('/'), *parts])


def test_resume_from_a_remote_out_dir(tmp_path):
    """Checkpoints in a remote out_dir (mmengine file backend): written there, pruned there,
    chosen for the resume through the backend, loaded safely."""
    from mmengine.fileio import register_backend
    from mmengine.fileio.file_client import FileClient
    register_backend('memtest', MemoryBackend, force=True, prefixes='memtest')
    FileClient.register_backend('memtest', MemoryBackend, force=True, prefixes='memtest')
    MemoryBackend.files.clear()
    settings = dict(max_iters=8, interval=4, max_keep_ckpts=1,
                    checkpoint=dict(out_dir='memtest://bucket/runs'))
    build_runner(tmp_path, **settings).train()
    remote = f'memtest://bucket/runs/{tmp_path.name}'
    assert sorted(MemoryBackend.files) == [f'{remote}/iter_8.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == f'{remote}/iter_8.pth'
    resumed = build_runner(tmp_path, resume=True, **dict(settings, max_iters=12))
    resumed.train()
    assert resumed.iter == 12 and sorted(MemoryBackend.files) == [f'{remote}/iter_12.pth']
    MemoryBackend.files[f'{remote}/iter_12.pth'] = b'PK\x03\x04 cut'
    with pytest.raises(CheckpointUnreadableError, match='not a complete checkpoint archive'):
        build_runner(tmp_path, resume=True, **dict(settings, max_iters=16)).train()


def test_automatic_resume_on_an_empty_work_dir_keeps_load_from(tmp_path):
    """`tools/train.py --resume` (every slurm restart) on an empty work dir starts from the
    config's load_from; once the run has a checkpoint, it resumes from that."""
    weights = tmp_path / 'pretrained.pth'
    donor = build_runner(tmp_path / 'donor', max_iters=4)
    donor.train()
    torch.save({'state_dict': parameters(donor)}, weights)
    work = tmp_path / 'finetune'
    runner = build_runner(work, max_iters=1, resume=True,
                          checkpoint=dict(load_from_if_fresh=str(weights)))
    runner.train()
    assert 'a fresh start from' in next(work.glob('*/*.log')).read_text()
    assert runner.iter == 1
    resumed = build_runner(work, max_iters=2, resume=True,
                           checkpoint=dict(load_from_if_fresh=str(weights)))
    resumed.train()
    assert resumed.iter == 2  # resumed from iter_1, not restarted from the weights


def test_missing_platform_signals_are_skipped(monkeypatch):
    """Windows has no SIGUSR1: the hook (and so tools/train.py) starts, catching SIGTERM."""
    monkeypatch.delattr(signal, 'SIGUSR1')
    hook = PreemptionHook()
    assert hook.signals == [int(signal.SIGTERM)]


def test_autocast_optim_wrapper_enables_autocast():
    from mmtnt.engine import AutocastOptimWrapper
    model = torch.nn.Linear(4, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   dtype='bfloat16')
    assert not torch.is_autocast_enabled('cpu')
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert model(torch.randn(2, 4)).dtype == torch.bfloat16
    assert model(torch.randn(2, 4)).dtype == torch.float32


@pytest.mark.slow
def test_uneven_validation_batches_do_not_hang_the_agreement(tmp_path):
    """Two processes, 9 validation points in batches of 4 without round-up: rank 0 has 2 batches,
    rank 1 has 1. A SIGTERM to rank 0 in its second batch (which rank 1 does not have) stops
    both ranks together after the validation, with one checkpoint."""
    work = tmp_path / 'work'
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(29700 + os.getpid() % 1000),
               PYTHONUNBUFFERED='1', WORLD_SIZE='2')
    procs = []
    for rank in range(2):
        extra = ['--signal-in-val', '4', '1'] if rank == 0 else []
        log = open(tmp_path / f'rank{rank}.log', 'w+')
        procs.append((subprocess.Popen(
            [sys.executable, TINY, str(work), '--world-size', '2', '--rank', str(rank),
             '--max-iters', '8', '--interval', '8', '--val-interval', '4', '--val-size', '9',
             *extra], cwd=ROOT, env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
            stdout=log, stderr=subprocess.STDOUT), log))
    outs = _finish(procs, PREEMPTED_EXIT_CODE)
    assert 'stopping at the end of the validation after iteration 4' in outs[0]
    assert _checkpoints(work) == ['iter_4.pth']


def test_a_stop_signal_during_the_replay_ends_the_run(tmp_path, monkeypatch):
    """With mmengine's Runner (its sampler replays), a resumed run loads the batches up to its
    resume point (no hook runs meanwhile); a stop signal then ends it there, with nothing new to
    save, instead of after the replay."""
    from mmtnt.engine import dataloader_resume
    monkeypatch.setattr(dataloader_resume, 'REPLAY_CHECK_EVERY', 2)
    build_runner(tmp_path, max_iters=8, interval=8, runner_type=Runner).train()

    class SignalBeforeTheReplay(Hook):

        def before_train_epoch(self, runner):
            os.kill(os.getpid(), signal.SIGTERM)

    runner = build_runner(tmp_path, max_iters=12, resume=True, hooks=[SignalBeforeTheReplay()],
                          runner_type=Runner)
    _stop(runner)
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert 'while replaying the data to iteration 8' in log
    assert _checkpoints(tmp_path) == ['iter_8.pth']


def test_a_stale_data_position_is_not_used(tmp_path):
    """A checkpoint saved again by a hook that does not record the data position (mmengine's
    CheckpointHook under mmdet's own tools) carries an older one: the resume says so and does
    not use it."""
    build_runner(tmp_path, max_iters=8, interval=8).train()
    path = tmp_path / 'iter_8.pth'
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    checkpoint['message_hub']['runtime_info']['mmtnt_data_state']['iteration'] = 4
    torch.save(checkpoint, path)
    runner = build_runner(tmp_path, max_iters=12, resume=True)
    runner.train()
    assert runner.iter == 12
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert 'saved at iteration 4, the checkpoint is of iteration 8' in log
    assert 'has no data position' in log


@pytest.mark.parametrize('by_epoch', [False, True], ids=['iter', 'epoch'])
def test_a_run_from_its_start_restores_no_position(tmp_path, by_epoch):
    """Only a resumed run restores a data position and random state: one from its start says
    nothing of them."""
    build_runner(tmp_path, max_iters=6, by_epoch=by_epoch).train()
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert 'Epoch(train)' in log or 'Iter(train)' in log
    assert 'data position' not in log and 'random state' not in log
