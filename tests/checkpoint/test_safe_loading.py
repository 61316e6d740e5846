"""One safe loading path for every checkpoint source.

A local HTTP server on 127.0.0.1 serves checkpoints made by the peer implementations (timm's
``state_dict()`` as .pth and .safetensors, the official layout with its training args) and a
malicious pickle; each loads through ``init_cfg`` and reproduces the peer's features, or is
refused. The same server stands in for the Hugging Face hub (``HF_ENDPOINT``).
"""
import argparse
import fractions
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from safetensors.torch import save_file

from mmtnt import TNTBackbone, UnsafeCheckpointError, load_checkpoint_safely
from mmtnt.checkpoint.load import TRUST_ENV

from helpers import ROOT, TINY_ARCH
from helpers.peer_checkpoints import LAYOUTS, assert_loads_like_peer
from helpers.toy_model import ToyModel, toy_dataset

HF_COMMIT = 'a' * 40


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.root``; ``/<owner>/<name>/resolve/<rev>/<file>`` as the HF hub does."""

    def _resolve(self):
        self.server.requests.append(self.path)
        parts = self.path.lstrip('/').split('/')
        if len(parts) >= 5 and parts[2] == 'resolve':  # hub: owner/name/resolve/rev/file
            path = self.server.root / 'hub' / parts[0] / parts[1] / '/'.join(parts[4:])
        else:
            path = self.server.root / self.path.lstrip('/')
        return path if path.is_file() else None

    def _head(self, path):
        if path is None:
            self.send_response(404)
            self.send_header('X-Error-Code', 'EntryNotFound')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('ETag', '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header('X-Repo-Commit', HF_COMMIT)
        self.end_headers()

    def do_HEAD(self):  # noqa: N802
        self._head(self._resolve())

    def do_GET(self):  # noqa: N802
        path = self._resolve()
        self._head(path)
        if path is not None:
            self.wfile.write(path.read_bytes())

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 over ``tmp_path/www``; the torch.hub cache under tmp_path."""
    root = tmp_path / 'www'
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    httpd.root, httpd.requests = root, []
    httpd.url = f'http://127.0.0.1:{httpd.server_address[1]}'
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _official_with_training_args():
    """The official layout as a timm-trained release pickles it: weights, training args
    (argparse.Namespace), numpy values."""
    return dict(model=LAYOUTS['official'][0]['model'], epoch=299, version=2,
                args=argparse.Namespace(model='tnt_s_patch16_224', lr=1e-3, drop_path=0.1,
                                        mean=None, input_size=[3, 224, 224]),
                metric=np.float64(81.5), top5=np.array([95.7], dtype=np.float32))


class _Exploit:
    """Unpickling this calls ``os.makedirs(marker)``: a stand-in for any code a pickle can run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker, )


@pytest.mark.parametrize('layout, fmt', [('timm', 'pth'), ('timm', 'safetensors'),
                                         ('official', 'pth.tar'), ('timm_legacy', 'safetensors')])
def test_url_checkpoint_reproduces_peer(server, layout, fmt):
    name = f'{layout}_tnt_s.{fmt}'
    if fmt == 'safetensors':
        save_file({k: v.contiguous() for k, v in LAYOUTS[layout][0].items()}, server.root / name)
    elif layout == 'official':
        torch.save(_official_with_training_args(), server.root / name)
    else:
        torch.save(LAYOUTS[layout][0], server.root / name)
    assert_loads_like_peer(f'{server.url}/{name}', layout)
    # downloaded once into the torch.hub cache, then read from there
    assert server.requests.count(f'/{name}') == 1
    assert (Path(torch.hub.get_dir()) / 'checkpoints' / name).is_file()


def test_url_pickle_that_runs_code_is_refused(server, tmp_path):
    marker = tmp_path / 'exploit_ran'
    torch.save(dict(state_dict=LAYOUTS['timm'][0], meta=_Exploit(marker)),
               server.root / 'evil.pth')
    url = f'{server.url}/evil.pth'
    model = TNTBackbone(arch='s', init_cfg=dict(type='Pretrained', checkpoint=url))
    with pytest.raises(UnsafeCheckpointError, match=rf'{url}.*{TRUST_ENV}'):
        model.init_weights()
    assert not marker.exists()
    # mmengine's own entry point (load_from, --resume, init_detector) takes the same path
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(url, map_location='cpu')
    assert not marker.exists()


def test_local_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'exploit_ran'
    path = tmp_path / 'evil.pth'
    torch.save(_Exploit(marker), path)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_explicit_trust_of_one_file(server, monkeypatch):
    """An object outside the allow-list is refused unless that very file is trusted."""
    ckpt = dict(state_dict=LAYOUTS['timm'][0], metric=fractions.Fraction(815, 10))
    torch.save(ckpt, server.root / 'odd.pth')
    url = f'{server.url}/odd.pth'
    with pytest.raises(UnsafeCheckpointError, match='fractions.Fraction'):
        load_checkpoint_safely(url)
    monkeypatch.setenv(TRUST_ENV, f'/some/other.pth,{url}')
    assert load_checkpoint_safely(url)['metric'] == fractions.Fraction(815, 10)


def test_hash_in_file_name_is_checked(server):
    data_path = server.root / 'tmp.pth'
    torch.save(LAYOUTS['timm'][0], data_path)
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    data_path.rename(server.root / f'tnt-{digest[:8]}.pth')
    state = load_checkpoint_safely(f'{server.url}/tnt-{digest[:8]}.pth')
    torch.testing.assert_close(state['patch_pos'], LAYOUTS['timm'][0]['patch_pos'])
    wrong = 'f' * 8 if digest[:8] != 'f' * 8 else 'e' * 8
    (server.root / f'tnt-{digest[:8]}.pth').rename(server.root / f'tnt-{wrong}.pth')
    with pytest.raises(ValueError, match='Could not download'):
        load_checkpoint_safely(f'{server.url}/tnt-{wrong}.pth')


def test_missing_url_says_what_to_do(server):
    with pytest.raises(ValueError, match='local path instead'):
        load_checkpoint_safely(f'{server.url}/absent.pth')


def _rename_numpy_module(src: Path, dst: Path, old: bytes, new: bytes) -> int:
    """Copy a torch zip checkpoint, renaming numpy's module in its pickle (as the other numpy
    major version writes it). Returns how many names were replaced."""
    count = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith('data.pkl'):
                count = data.count(old)
                data = data.replace(old, new)
            zout.writestr(item, data)
    return count


@pytest.mark.parametrize('module', [b'numpy.core.multiarray', b'numpy._core.multiarray'])
def test_numpy_1_and_2_checkpoint_names_both_load(tmp_path, module):
    ckpt = dict(state_dict=dict(w=torch.arange(4.)),
                meta=dict(best=np.float64(0.656), hist=np.arange(3, dtype=np.int64),
                          lr=np.array([1e-3, 2e-3], dtype=np.float32)))
    torch.save(ckpt, tmp_path / 'written.pth')
    with zipfile.ZipFile(tmp_path / 'written.pth') as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    written = b'numpy._core.multiarray' if b'numpy._core.multiarray' in pkl else \
        b'numpy.core.multiarray'
    assert _rename_numpy_module(tmp_path / 'written.pth', tmp_path / 'renamed.pth', written,
                                module) >= 2
    loaded = _load_checkpoint(str(tmp_path / 'renamed.pth'))
    assert loaded['meta']['best'] == np.float64(0.656)
    np.testing.assert_array_equal(loaded['meta']['hist'], np.arange(3))
    np.testing.assert_array_equal(loaded['meta']['lr'], ckpt['meta']['lr'])


def test_safetensors_recognised_by_content(tmp_path):
    """A safetensors file under another name (e.g. a hub download saved as .bin) still loads."""
    save_file(dict(w=torch.arange(6.).reshape(2, 3)), tmp_path / 'weights.bin')
    torch.testing.assert_close(load_checkpoint_safely(str(tmp_path / 'weights.bin'))['w'],
                               torch.arange(6.).reshape(2, 3))


def _hf_load(hub_id, env, out):
    code = ('import sys, torch, mmtnt; '
            'torch.save(mmtnt.load_checkpoint_safely(sys.argv[1]), sys.argv[2])')
    return subprocess.run([sys.executable, '-c', code, hub_id, str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_hf_hub_id_download_cache_and_offline(server, tmp_path):
    """``hf-hub:`` ids go through huggingface_hub: download, its cache, then offline mode."""
    repo = server.root / 'hub' / 'timm' / 'tnt_s_patch16_224.in1k'
    repo.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in LAYOUTS['timm'][0].items()}
    save_file(state, repo / 'model.safetensors')
    (repo / 'config.json').write_text(json.dumps(dict(architecture='tnt_s_patch16_224')))
    env = dict(os.environ, HF_ENDPOINT=server.url, HF_HUB_CACHE=str(tmp_path / 'hf_cache'),
               HF_HUB_DISABLE_TELEMETRY='1', HF_HUB_DISABLE_XET='1')
    env.pop('HF_HUB_OFFLINE', None)
    hub_id = 'hf-hub:timm/tnt_s_patch16_224.in1k'
    proc = _hf_load(hub_id, env, tmp_path / 'online.pth')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any('model.safetensors' in r for r in server.requests)
    loaded = torch.load(tmp_path / 'online.pth', weights_only=True)
    assert loaded.keys() == state.keys()
    torch.testing.assert_close(loaded['patch_pos'], state['patch_pos'])

    server.requests.clear()
    proc = _hf_load(hub_id, dict(env, HF_HUB_OFFLINE='1'), tmp_path / 'offline.pth')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert server.requests == []  # offline: from the cache only

    # an explicit file, falling back from the default names when absent
    torch.save(LAYOUTS['timm'][0], repo / 'pytorch_model.bin')
    (repo / 'model.safetensors').unlink()
    proc = _hf_load('hf-hub:timm/tnt_s_patch16_224.in1k/pytorch_model.bin', env,
                    tmp_path / 'bin.pth')
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_bad_hf_id_is_explained():
    with pytest.raises(ValueError, match='owner/name'):
        load_checkpoint_safely('hf-hub:tnt_s')


def test_convert_tool_reads_urls_and_safetensors(server, tmp_path):
    save_file({k: v.contiguous() for k, v in LAYOUTS['timm'][0].items()},
              server.root / 'timm.safetensors')
    out = tmp_path / 'mmtnt.pth'
    proc = subprocess.run([sys.executable, 'tools/convert_weights.py',
                           f'{server.url}/timm.safetensors', str(out)], cwd=ROOT,
                          capture_output=True, text=True)  # TORCH_HOME: the fixture's cache
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'timm layout' in proc.stdout + proc.stderr
    assert_loads_like_peer(str(out), 'timm')


def test_load_from_and_resume_accept_urls(server, tmp_path):
    """Runner's load_from / resume read through the same loader (here: an mmengine training
    checkpoint with numpy values and HistoryBuffers, served over HTTP)."""
    from mmengine.runner import Runner

    def runner(work, **kwargs):
        return Runner(
            model=ToyModel(), work_dir=str(work), experiment_name=work.name,
            train_dataloader=dict(dataset=toy_dataset(), batch_size=2,
                                  sampler=dict(type='DefaultSampler', shuffle=True),
                                  collate_fn=dict(type='default_collate')),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            train_cfg=dict(by_epoch=False, max_iters=kwargs.pop('max_iters'), val_interval=100),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=4,
                                               by_epoch=False)),
            randomness=dict(seed=0), **kwargs)

    runner(tmp_path / 'first', max_iters=4).train()
    (tmp_path / 'first' / 'iter_4.pth').rename(server.root / 'iter_4.pth')
    resumed = runner(tmp_path / 'resumed', max_iters=6, load_from=f'{server.url}/iter_4.pth',
                     resume=True)
    resumed.train()
    assert resumed.iter == 6
    assert any(r == '/iter_4.pth' for r in server.requests)


def test_mmengine_schemes_route_through_mmtnt():
    from mmengine.runner import checkpoint as ckpt
    from mmtnt.checkpoint import load as ckpt_load
    assert ckpt.CheckpointLoader._get_checkpoint_loader('/x.pth') is ckpt_load.load_from_local_safe
    assert ckpt.CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is \
        ckpt_load.load_from_http_safe
    assert ckpt.CheckpointLoader._get_checkpoint_loader('hf-hub:a/b') is ckpt_load.load_from_hf_hub
    assert ckpt.load_from_http is ckpt_load.load_from_http_safe  # open-mmlab://, torchvision://
    assert ckpt.CheckpointLoader._get_checkpoint_loader('s3://b/x.pth') is \
        ckpt_load.load_from_local_safe


@pytest.mark.parametrize('damage, reason', [('empty', 'empty file'), ('truncated', 'truncated'),
                                            ('cut', 'truncated')])
def test_damaged_weights_say_what_is_wrong(tmp_path, damage, reason):
    """An empty or truncated file given as weights (init_cfg, load_from) names the file and what
    is wrong with it."""
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(4000.)}}, good)
    data = good.read_bytes()
    bad = tmp_path / 'bad.pth'
    bad.write_bytes({'empty': b'', 'truncated': data[:len(data) // 2],
                     'cut': data[:-30]}[damage])
    with pytest.raises(ValueError, match=reason) as error:
        CheckpointLoader.load_checkpoint(str(bad), map_location='cpu')
    assert str(bad) in str(error.value)
    backbone = TNTBackbone(arch=TINY_ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(bad)))
    with pytest.raises(ValueError, match=reason):
        backbone.init_weights()

