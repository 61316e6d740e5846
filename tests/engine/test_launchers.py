"""Signals as launchers deliver them: to the whole process group (data-loader workers, torchrun,
every rank), before the first iteration, in the middle, after the last; through tools/train.py
and tools/dist_train.sh on the tiny run (tests/helpers/tiny_config.py: 2 persistent data-loader
workers per process, as the shipped configs)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmtnt.engine import PREEMPTED_EXIT_CODE, checkpoint_problem

from helpers import HELPERS, ROOT, TESTS

WORKER_DIED = 'DataLoader worker'


def _config(tmp_path, hooks: str) -> str:
    path = tmp_path / 'tiny.py'
    path.write_text(f"_base_ = ['{HELPERS / 'tiny_config.py'}']\ncustom_hooks = {hooks}\n")
    return str(path)


def _env(tmp_path, **extra):
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT)]),
                PYTHONUNBUFFERED='1', PYTHON=sys.executable,
                MMTNT_STOP_FILE=str(tmp_path / 'stop_status'), **extra)


def _train(tmp_path, config, work, *extra, timeout=300):
    """tools/train.py in a session of its own (a signal to its group reaches nobody else)."""
    return subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir', str(work),
                           *extra], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=timeout, start_new_session=True)


def _out(proc):
    return proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('at, status', [('before_run', PREEMPTED_EXIT_CODE),
                                        ('iteration', PREEMPTED_EXIT_CODE), ('after_train', 0)])
def test_sigterm_to_the_process_group(tmp_path, at, status):
    """SIGTERM to the whole group (main process and its 2 persistent workers): the workers
    ignore it, the main process stops at the next iteration boundary with one checkpoint and
    status 75 (while starting: before the first iteration, nothing to save; after the last
    iteration: the run is complete, status 0); --resume with another batch is refused unless
    --accept-batch-change, which finishes the run."""
    work = tmp_path / 'work'
    hooks = f"[dict(type='TinyProgress'), dict(type='SignalGroupAt', at='{at}', iteration=4)]"
    config = _config(tmp_path, hooks)
    proc = _train(tmp_path, config, work)
    log = _out(proc)
    assert proc.returncode == status, log[-3000:]
    assert WORKER_DIED not in log
    checkpoints = sorted(p.name for p in work.glob('*.pth'))
    stop_file = tmp_path / 'stop_status'
    if at == 'before_run':
        assert 'before the first iteration' in log and checkpoints == []
        assert stop_file.read_text().split() == ['75']
        return
    if at == 'after_train':
        assert 'the run is complete' in log and not stop_file.exists()
        assert checkpoints == ['iter_12.pth', 'iter_8.pth']
        return
    # signalled in iteration 5 (0-based 4): stops after it
    assert 'stopping at iteration 5' in log and checkpoints == ['iter_4.pth', 'iter_5.pth']
    assert stop_file.read_text().split() == ['75', str(work / 'iter_5.pth')]
    # --resume with another batch: refused with the sizes and the option;
    # --accept-batch-change continues at the saved sample position and finishes the run
    resume = (_config(tmp_path, "[dict(type='TinyProgress')]"), work, '--resume')
    other = ('--cfg-options', 'train_dataloader.batch_size=2')
    refused = _train(tmp_path, *resume, *other)
    assert refused.returncode == 1
    assert 'global batch of 4 samples' in _out(refused) and \
        '--accept-batch-change' in _out(refused)
    resumed = _train(tmp_path, *resume, *other, '--accept-batch-change')
    assert resumed.returncode == 0, _out(resumed)[-3000:]
    assert 'untrained samples split over the processes anew' in _out(resumed)
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_12.pth', 'iter_8.pth']


def _wait_for(path: Path, text: str, proc, timeout=240):
    deadline = time.time() + timeout
    while text not in (path.read_text() if path.exists() else ''):
        assert proc.poll() is None and time.time() < deadline, path.read_text()[-3000:]
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize('target', ['group', 'script'])
def test_dist_train_sh_stops_on_sigterm(tmp_path, target):
    """tools/dist_train.sh with 2 gloo processes and 2 workers each. SIGTERM to the script's
    whole process group (bash, torchrun, the ranks, their workers), as a scheduler sends it, or
    to the script alone (a container's PID 1): one checkpoint, the script exits 75 (torchrun
    itself reports a failure), and running it again with --resume finishes the run."""
    work = tmp_path / 'work'
    config = _config(tmp_path, "[dict(type='TinyProgress', sleep=0.3)]")
    port = str(29800 + os.getpid() % 1000)
    log_path = tmp_path / 'dist.log'
    command = ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work)]
    env = _env(tmp_path, PORT=port)
    env.pop('MMTNT_STOP_FILE')  # the script sets its own
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(log_path, 'rank 1 finished iteration 3', proc)
        if target == 'group':
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == PREEMPTED_EXIT_CODE, log_path.read_text()[-3000:]
    text = log_path.read_text()
    assert WORKER_DIED not in text and 'torchrun returned 1; exiting with 75' in text
    stopped = sorted(p.name for p in work.glob('*.pth'))
    assert len(stopped) in (1, 2) and all(checkpoint_problem(str(work / p)) is None
                                          for p in stopped)
    if target == 'script':
        return
    env['PORT'] = str(int(port) + 1)
    done = subprocess.run(command + ['--resume'], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, _out(done)[-3000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_12.pth', 'iter_8.pth']
