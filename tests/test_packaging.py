"""The wheel carries configs, tools, the model index and the LICENSE (OpenMMLab's .mim layout)
and requires the version ranges docs/get_started.md states; installed from it, outside the
clone, mmtnt trains and tests a toy config and a user's config that starts from an installed
one."""
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT



@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the tree: a wheel build copies configs/ and tools/ into
    mmtnt/.mim/, where the clone's editable install keeps links to them."""
    out, src = tmp_path_factory.mktemp('wheel'), tmp_path_factory.mktemp('src') / 'mmtnt'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        '.git', 'build', '*.egg-info', '.mim', '__pycache__', 'work_dirs', '.pytest_cache'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
                    '--no-build-isolation', '-w', str(out), str(src)], check=True, cwd=out)
    return next(out.glob('mmtnt-*.whl'))


def test_wheel_carries_configs_tools_and_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {str(p.relative_to(ROOT)) for p in (ROOT / 'configs').rglob('*')
               if p.is_file() and '__pycache__' not in p.parts}
    tools = {str(p.relative_to(ROOT)) for p in (ROOT / 'tools').rglob('*')
             if p.is_file() and '__pycache__' not in p.parts}
    assert {f'mmtnt/.mim/{c}' for c in configs | tools} <= names
    # and no config the tree no longer has (a moved or removed one left in setuptools' build/)
    assert {n for n in names if n.startswith('mmtnt/.mim/configs/')} == {
        f'mmtnt/.mim/{c}' for c in configs}
    # tools in subfolders and the model zoo's pages too
    assert {'mmtnt/.mim/tools/analysis/get_flops.py', 'mmtnt/.mim/configs/tnt/README.md',
            'mmtnt/.mim/configs/tnt/metafile.yml'} <= names
    assert 'mmtnt/.mim/model-index.yml' in names
    dist_info = next(n.split('/')[0] for n in names if n.endswith('.dist-info/METADATA'))
    assert f'{dist_info}/LICENSE' in names
    entry_points = zipfile.ZipFile(wheel).read(f'{dist_info}/entry_points.txt').decode()
    assert 'mmtnt-train = mmtnt.cli:train' in entry_points
    metadata = zipfile.ZipFile(wheel).read(f'{dist_info}/METADATA').decode()
    assert 'License: Apache-2.0' in metadata and '# mmtnt' in metadata  # README as description


# what docs/get_started.md's prerequisites table states as the package's ranges
BOUNDED = ('python', 'torch', 'numpy', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation')
SPECIFIER = re.compile(r'`([A-Za-z][\w.-]*(?:>=|<=|==|!=|~=|<|>)[0-9][\w.*]*'
                       r'(?:,(?:>=|<=|==|!=|~=|<|>)[0-9][\w.*]*)*)`')


def test_wheel_requires_the_documented_ranges(wheel):
    """The wheel's Requires-Python and Requires-Dist bound python, torch, numpy, mmengine, mmcv,
    mmdet and mmseg exactly as get started's prerequisites table says, each with an upper
    bound."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    whl = zipfile.ZipFile(wheel)
    dist_info = next(n.split('/')[0] for n in whl.namelist() if n.endswith('.dist-info/METADATA'))
    required = {}
    for line in whl.read(f'{dist_info}/METADATA').decode().splitlines():
        key, _, value = line.partition(': ')
        if key == 'Requires-Python':
            required['python'] = SpecifierSet(value)
        elif key == 'Requires-Dist':
            req = Requirement(value)
            if req.marker is None:  # not an extra's
                required[req.name] = req.specifier
    doc = (ROOT / 'docs' / 'get_started.md').read_text()
    table = doc.split('## Prerequisites', 1)[1].split('\n## ', 1)[0]
    documented = {}
    for text in SPECIFIER.findall(table):
        req = Requirement(text)
        assert documented.setdefault(req.name, req.specifier) == req.specifier, text
    for name in BOUNDED:
        assert name in documented, f'get_started.md states no range for {name}'
        assert required.get(name) == documented[name], (name, required.get(name))
        if name != 'python':
            assert any(s.operator in ('<', '<=', '==') for s in required[name]), name


def test_model_index_lists_every_config():
    import yaml
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    listed = set()
    for metafile in index['Import']:
        meta = yaml.safe_load((ROOT / metafile).read_text())
        for collection in meta['Collections']:  # each method's page, next to its metafile
            assert collection['README'] == str(Path(metafile).parent / 'README.md')
            assert (ROOT / collection['README']).is_file()
        for model in meta['Models']:
            assert (ROOT / model['Config']).is_file(), model['Config']
            assert model['In Collection'] in {c['Name'] for c in meta['Collections']}
            # Weights: only weights trained with that config, never the backbone's ImageNet ones
            weights = model.get('Weights')
            assert weights is None or weights not in str(model['Metadata'].get('Pretrain'))
            if '/toy/' in model['Config']:  # measured: each toy entry says what it reached
                assert model.get('Results') and model['Metadata'].get('Iterations'), model['Name']
            listed.add(model['Config'])
    # (configs/*.py: entry points that are a listed config as it is, configs/retinanet_tnt_s.py)
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / 'configs').rglob('*.py')
               if '_base_' not in p.parts and p.parent != ROOT / 'configs'}
    assert listed == shipped


@pytest.mark.slow
def test_installed_wheel_trains_and_tests_outside_the_clone(wheel, tmp_path, toy_data_root):
    site, user = tmp_path / 'site', tmp_path / 'user'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--target',
                    str(site), str(wheel)], check=True)
    user.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))

    def run(*args):
        proc = subprocess.run([sys.executable, *args], cwd=user, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    assert run('-c', 'import mmtnt; print(mmtnt.__file__)').strip().endswith(
        str(site / 'mmtnt' / '__init__.py'))
    configs = run('-m', 'mmtnt.cli', 'configs').strip().splitlines()[-1]
    assert configs == str(site / 'mmtnt' / '.mim' / 'configs')
    d = toy_data_root
    data = [f'{k}.dataset.data_root={d}' for k in ('train_dataloader', 'val_dataloader',
                                                    'test_dataloader')]
    data += [f'{k}.ann_file={d}coco/instances_val.json' for k in ('val_evaluator',
                                                                 'test_evaluator')]
    # the first 8 validation images: the metric's path, not its value, is what is checked here
    data += [f'{k}.dataset.indices=8' for k in ('val_dataloader', 'test_dataloader')]
    data += ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
             'train_dataloader.persistent_workers=False', 'model.test_cfg.score_thr=0.0']
    (user / 'my_toy.py').write_text(
        f"_base_ = '{configs}/toy/retinanet_tnt_toy.py'\n"
        'train_cfg = dict(max_iters=2, val_interval=2)\n'
        'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))\n')
    log = run('-m', 'mmtnt.cli', 'train', 'my_toy.py', '--work-dir', 'mine', '--cfg-options',
              *data)
    assert re.search(r'Iter\(train\) \[2/2\]', log) and re.search(r'coco/bbox_mAP: \d', log)
    log = run('-m', 'mmtnt.cli', 'test', 'mmtnt::toy/retinanet_tnt_toy.py', 'mine/iter_2.pth',
              '--work-dir', 'test', '--cfg-options', *data)
    assert re.search(r'coco/bbox_mAP: \d', log)
    with pytest.raises(AssertionError, match='no such config in the installed mmtnt'):
        run('-m', 'mmtnt.cli', 'train', 'mmtnt::toy/nothing.py')
