"""End to end on the toy data through the command-line tools: train, kill, stop on a signal,
resume, test, 2-process (gloo) training and validation, and tools/slurm_train.sh's restarts."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import mmtnt  # noqa: F401  safe loading of mmengine checkpoints (weights_only=True)

from helpers import ROOT

TOY = str(ROOT / 'configs' / 'toy' / 'retinanet_tnt_toy.py')


def _opts(data_root, **extra):
    opts = {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'val_evaluator.ann_file': data_root + 'coco/instances_val.json',
        'test_evaluator.ann_file': data_root + 'coco/instances_val.json',
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'default_hooks.logger.interval': 1,
        'model.test_cfg.score_thr': 0.0,  # a few iterations in, no score passes 0.05 yet
    }
    opts.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


def _run(args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          env=env, **kwargs)


def _check(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _popen(args, log_path):
    """tools/*.py in a session of its own (a signal to its group reaches nobody else)."""
    with open(log_path, 'w') as log:
        return subprocess.Popen([sys.executable] + args, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, PYTHONUNBUFFERED='1'))


def _wait_until(found, proc, log_path, timeout=300):
    deadline = time.time() + timeout
    while not found():
        assert proc.poll() is None and time.time() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_kill_resume_and_test(tmp_path, toy_data_root):
    """tools/train.py, toy RetinaNet with drop path and 2 persistent data-loader workers, as the
    shipped configs, interrupted twice: SIGTERM to the whole process group (as torchrun and
    slurm deliver it) stops the run with status 75 and a checkpoint of the iteration in flight;
    the resumed run is SIGKILLed after its next checkpoint, which is complete (optimizer state
    of that iteration); `--resume` then ends with the weights of the uninterrupted run, and
    tools/test.py evaluates it (COCO metric, pictures, a pickle of the predictions)."""
    total, interval = 20, 8
    opts = _opts(toy_data_root, **{
        'train_cfg.max_iters': total, 'train_cfg.val_interval': total,
        'default_hooks.checkpoint.interval': interval, 'model.backbone.drop_path_rate': 0.1,
        'randomness.seed': 0, 'randomness.deterministic': True,
        'train_dataloader.num_workers': 2, 'train_dataloader.persistent_workers': True})
    _check(_run(['tools/train.py', TOY, '--work-dir', str(tmp_path / 'full')] + opts))
    work = tmp_path / 'stopped'
    train = ['tools/train.py', TOY, '--work-dir', str(work)] + opts

    log_path = tmp_path / 'stopped.log'
    proc = _popen(train, log_path)
    _wait_until(lambda: re.search(rf'Iter\(train\) \[ *3/{total}\]', log_path.read_text()), proc,
                log_path)
    os.killpg(proc.pid, signal.SIGTERM)  # the main process and its workers
    assert proc.wait(timeout=300) == 75, log_path.read_text()[-3000:]
    stopped_at = int(re.search(r'iter_(\d+)\.pth', (work / 'last_checkpoint').read_text())[1])
    assert 3 <= stopped_at < interval
    assert f'stopping at iteration {stopped_at}' in log_path.read_text()
    assert 'DataLoader worker' not in log_path.read_text()

    # resumed, then killed once its next checkpoint is complete (CheckpointHook writes
    # last_checkpoint after the file); 12 more iterations would end the run
    log_path = tmp_path / 'killed.log'
    proc = _popen(train + ['--resume'], log_path)
    _wait_until(lambda: f'iter_{interval}.pth' in (work / 'last_checkpoint').read_text(), proc,
                log_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert f'resumed epoch: 0, iter: {stopped_at}' in log_path.read_text()
    ckpt = torch.load(work / f'iter_{interval}.pth', weights_only=True)
    state = ckpt['optimizer']['state']
    assert ckpt['meta']['iter'] == interval and state and all(
        s['step'] == interval for s in state.values())

    log = _check(_run(train + ['--resume']))
    assert f'resumed epoch: 0, iter: {interval}' in log
    assert re.search(rf'Iter\(train\) \[ *{interval + 1}/{total}\]', log)
    assert not re.search(rf'Iter\(train\) \[ *1/{total}\]', log)
    assert 'coco/bbox_mAP_50' in log
    resumed = torch.load(work / f'iter_{total}.pth', weights_only=True)
    assert all(s['step'] == total for s in resumed['optimizer']['state'].values())
    assert resumed['param_schedulers'][0]['last_step'] == total
    full = torch.load(tmp_path / 'full' / f'iter_{total}.pth', weights_only=True)['state_dict']
    assert full.keys() == resumed['state_dict'].keys()
    for k in full:
        assert (full[k].double() - resumed['state_dict'][k].double()).abs().max() <= 1e-6, k

    out = _check(_run(['tools/test.py', TOY, str(work / f'iter_{total}.pth'), '--work-dir',
                       str(work), '--show-dir', 'vis', '--out', str(tmp_path / 'preds.pkl')] +
                      _opts(toy_data_root)))
    assert re.search(r'coco/bbox_mAP: \d', out)
    assert (tmp_path / 'preds.pkl').exists()
    assert len(list(work.glob('*/vis/*.jpg'))) == 100


def _two_stage_opts(data_root):
    return _opts(data_root, **{'train_cfg.max_iters': 4, 'train_cfg.val_interval': 4,
                               'default_hooks.checkpoint.interval': 4,
                               'model.test_cfg.rcnn.score_thr': 0.0})


@pytest.mark.slow
def test_mask_rcnn_toy_train_and_evaluate(tmp_path, toy_data_root):
    config = str(ROOT / 'configs' / 'toy' / 'mask_rcnn_tnt_toy.py')
    work = tmp_path / 'work'
    log = _check(_run(['tools/train.py', config, '--work-dir', str(work)] +
                      _two_stage_opts(toy_data_root)))
    assert re.search(r'Iter\(train\) \[4/4\]', log) and (work / 'iter_4.pth').exists()
    assert re.search(r'coco/bbox_mAP: \d', log) and re.search(r'coco/segm_mAP: \d', log)


@pytest.mark.slow
def test_two_process_gloo_training_and_validation(tmp_path, toy_data_root):
    """tools/dist_train.sh, the toy Faster R-CNN in 2 gloo processes: training, and a COCO
    box validation (no masks) whose results are gathered from both ranks."""
    work = tmp_path / 'dist'
    config = str(ROOT / 'configs' / 'toy' / 'faster_rcnn_tnt_toy.py')
    env = dict(os.environ, PORT=str(29500 + os.getpid() % 1000), PYTHON=sys.executable)
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work)] +
        _two_stage_opts(toy_data_root), cwd=ROOT, capture_output=True, text=True, env=env,
        timeout=600)
    log = _check(proc)
    # (ranks other than 0 print only errors to the console)
    assert 'distributed training on CPU with gloo, rank 0 of 2' in log
    assert re.search(r'Iter\(train\) \[4/4\]', log) and re.search(r'coco/bbox_mAP: \d', log)
    assert 'coco/segm_mAP' not in log
    assert (work / 'iter_4.pth').exists()


@pytest.mark.slow
def test_segmentation_train_then_test(tmp_path, toy_data_root):
    config = str(ROOT / 'configs' / 'toy' / 'upernet_tnt_toy.py')
    work = tmp_path / 'seg'
    opts = ['--cfg-options', f'train_dataloader.dataset.data_root={toy_data_root}',
            f'val_dataloader.dataset.data_root={toy_data_root}',
            f'test_dataloader.dataset.data_root={toy_data_root}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1']
    log = _check(_run(['tools/train.py', config, '--work-dir', str(work)] + opts + [
        'train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'default_hooks.checkpoint.interval=6'
    ]))
    assert 'mIoU' in log and (work / 'iter_6.pth').exists()
    out = _check(_run(['tools/test.py', config, str(work / 'iter_6.pth'), '--work-dir',
                       str(work), '--show-dir', str(tmp_path / 'seg_vis')] + opts + [
                           'model.test_cfg.mode=slide',
                                                                  'model.test_cfg.crop_size=(96,96)',
                                                                  'model.test_cfg.stride=(64,64)']))
    assert 'per class results' in out and 'triangle' in out
    assert re.search(r'mIoU: \d', out)
    # mmseg's SegVisualizationHook draws every 50th image, under show_dir/vis_data/vis_image
    assert len(list((tmp_path / 'seg_vis').rglob('*.png'))) == 2


def _fake_slurm(tmp_path, statuses, scontrol_status=0):
    """`srun` that records its arguments and exits with the next of ``statuses``; a status
    written 'N+stop' first writes the stop file as the stopped ranks do (srun's
    --kill-on-bad-exit then returns 137 / 143 rather than their 75). `scontrol` records its
    arguments and exits with ``scontrol_status`` (1: inside salloc, nothing to requeue)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (tmp_path / 'statuses').write_text('\n'.join(map(str, statuses)) + '\n')
    (bin_dir / 'srun').write_text(
        '#!/usr/bin/env bash\n'
        f'echo "$@" >> {tmp_path}/srun_calls\n'
        f'status=$(head -n1 {tmp_path}/statuses); sed -i 1d {tmp_path}/statuses\n'
        'case "$status" in *+stop) echo "75 ckpt.pth" > "$MMTNT_STOP_FILE";; esac\n'
        # a stopped run has written a checkpoint of its own
        'for a in "$@"; do case "$a" in --work-dir=*) wd=${a#--work-dir=};; esac; done\n'
        'case "$status" in 75|*+stop) echo "$wd/iter_8.pth" > "$wd/last_checkpoint";; esac\n'
        'exit "${status%+stop}"\n')
    (bin_dir / 'scontrol').write_text(
        f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/scontrol\nexit {scontrol_status}\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    env.update(PATH=f'{bin_dir}:{env["PATH"]}', PYTHON=sys.executable, FAKE_SLURM=str(tmp_path))
    return env


def _slurm_train(env, *extra):
    work = f'{env["FAKE_SLURM"]}/work'
    return subprocess.run(['bash', 'tools/slurm_train.sh', 'gpu', 'tnt', TOY, work, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True)


def _srun_calls(tmp_path):
    return (tmp_path / 'srun_calls').read_text().splitlines()


@pytest.mark.parametrize('status', ['75', '143+stop', '137+stop'])
def test_slurm_train_requeues_a_stopped_batch_job(tmp_path, status):
    """In a batch job, a stop (status 75, or the stop file when --kill-on-bad-exit turned 75
    into 137 / 143) requeues the job; srun asked for the warning signal, ran this interpreter,
    and the run resumes from the work dir."""
    env = _fake_slurm(tmp_path, [status])
    env['SLURM_JOB_ID'] = '4242'
    proc = _slurm_train(env, '--amp')
    assert proc.returncode == 75, proc.stderr
    srun = _srun_calls(tmp_path)
    assert len(srun) == 1 and f'{sys.executable} -u ' in srun[0]
    assert '--signal=USR1@120' in srun[0] and srun[0].endswith('--launcher=slurm --amp --resume')
    assert (tmp_path / 'scontrol').read_text().split() == ['requeue', '4242']


@pytest.mark.parametrize('resume', [['--resume', 'w/iter_8.pth'], ['--resume=w/iter_8.pth']])
def test_slurm_train_explicit_resume_is_for_the_first_start_only(tmp_path, resume):
    env = _fake_slurm(tmp_path, [75])
    env['SLURM_JOB_ID'] = '4242'
    _slurm_train(env, *resume, '--amp')
    assert _srun_calls(tmp_path)[0].endswith('--launcher=slurm --amp ' + ' '.join(resume))
    requeued = tmp_path / 'requeued'  # a restart, the run's own checkpoint there: --resume
    requeued.mkdir()
    env = _fake_slurm(requeued, [0])
    env.update(SLURM_JOB_ID='4242', SLURM_RESTART_COUNT='1')
    (requeued / 'work').mkdir()
    (requeued / 'work' / 'last_checkpoint').write_text('iter_4.pth')
    assert _slurm_train(env, *resume, '--amp').returncode == 0
    assert _srun_calls(requeued)[0].endswith('--launcher=slurm --amp --resume')
    early = tmp_path / 'early'  # a restart before the run wrote any checkpoint: PATH again
    early.mkdir()
    env = _fake_slurm(early, [0])
    env.update(SLURM_JOB_ID='4242', SLURM_RESTART_COUNT='1')
    assert _slurm_train(env, *resume, '--amp').returncode == 0
    assert _srun_calls(early)[0].endswith('--launcher=slurm --amp ' + ' '.join(resume))


def test_slurm_train_stops_requeueing_at_max_requeues(tmp_path):
    env = _fake_slurm(tmp_path, [75])
    env.update(SLURM_JOB_ID='4242', SLURM_RESTART_COUNT='3', MAX_REQUEUES='3')
    proc = _slurm_train(env)
    assert proc.returncode == 75 and 'MAX_REQUEUES=3' in proc.stdout
    assert not (tmp_path / 'scontrol').exists()


def test_slurm_train_restarts_srun_where_requeue_fails(tmp_path):
    """Inside salloc (SLURM_JOB_ID set, requeue refused) srun starts again, and says why."""
    env = _fake_slurm(tmp_path, [75, 0], scontrol_status=1)
    env['SLURM_JOB_ID'] = '4242'
    proc = _slurm_train(env)
    assert proc.returncode == 0 and 'cannot be requeued' in proc.stdout
    assert len(_srun_calls(tmp_path)) == 2


def test_slurm_train_passes_a_signal_to_its_shell_on_to_srun(tmp_path):
    """SIGTERM to the batch shell alone (scancel --full, --signal=B:...) reaches srun (which
    hands it to the tasks); the stop then requeues as usual."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(
        '#!/usr/bin/env bash\n'
        f'trap \'echo "75 ckpt" > "$MMTNT_STOP_FILE"; echo got-TERM >> {tmp_path}/srun_log; '
        'exit 143\' TERM\n'
        f'echo started >> {tmp_path}/srun_log\n'
        'for i in $(seq 600); do sleep 0.1; done\n')
    (bin_dir / 'scontrol').write_text(f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/scontrol\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    env.update(PATH=f'{bin_dir}:{env["PATH"]}', PYTHON=sys.executable, SLURM_JOB_ID='4242')
    proc = subprocess.Popen(['bash', 'tools/slurm_train.sh', 'gpu', 'tnt', TOY,
                             str(tmp_path / 'work')], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while not (tmp_path / 'srun_log').exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # the script's pid only
    assert proc.wait(timeout=30) == 75, proc.stdout.read()
    assert 'got-TERM' in (tmp_path / 'srun_log').read_text()
    assert (tmp_path / 'scontrol').read_text().split() == ['requeue', '4242']


def test_slurm_train_restarts_srun_outside_a_batch_job(tmp_path):
    """From a login node: srun again after each stop, until the run ends (or fails); a
    `--resume PATH` applies to the first start, restarts take the newest checkpoint."""
    env = _fake_slurm(tmp_path, [75, '143+stop', 0])
    proc = _slurm_train(env, '--resume', 'work_dirs/x/iter_8.pth', '--amp')
    assert proc.returncode == 0, proc.stderr
    srun = _srun_calls(tmp_path)
    assert len(srun) == 3 and srun[0].endswith('--amp --resume work_dirs/x/iter_8.pth')
    assert all(s.endswith('--launcher=slurm --amp --resume') for s in srun[1:])
    assert not (tmp_path / 'scontrol').exists()
    failing = tmp_path / 'failing'
    failing.mkdir()
    assert _slurm_train(_fake_slurm(failing, [1])).returncode == 1
    assert len(_srun_calls(failing)) == 1


def test_slurm_test_runs_test_py(tmp_path):
    env = _fake_slurm(tmp_path, [0])
    env['GPUS'] = '16'
    proc = subprocess.run(['bash', 'tools/slurm_test.sh', 'gpu', 'tnt', TOY, 'ckpt.pth', '--out',
                           'x.pkl'], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    srun = (tmp_path / 'srun_calls').read_text().split()
    assert srun[:4] == ['-p', 'gpu', '--job-name=tnt', '--gres=gpu:8'] and '--ntasks=16' in srun
    assert srun[-5:] == [TOY, 'ckpt.pth', '--launcher=slurm', '--out', 'x.pkl']
    assert srun[-6].endswith('tools/test.py') and '--signal' not in ' '.join(srun)
