"""The documentation against the tree and the product.

Every config a page names exists (and so is built by test_configs; the changelog's history may
name files since moved or removed), every file a command in a code block names exists, every
relative link resolves (anchors included), the README stays a front page, the pages speak of the
product (no record of how the work went), and the guides' quick snippets run as written: get
started's check, the own-dataset configs and their data, inference from Python on a randomly
initialised toy model.
"""
import contextlib
import io
import json
import os
import re
import tokenize
from pathlib import Path

import pytest

from helpers import ROOT
from helpers.configs import CONFIGS

DOCS = ([ROOT / 'README.md', ROOT / 'CHANGELOG.md'] + sorted((ROOT / 'docs').rglob('*.md'))
        + sorted((ROOT / 'configs').glob('*/README.md')))
COMMAND = re.compile(r'^\s*(?:[A-Z_]+=\S+\s+)*(python|bash|mmtnt-train|mmtnt-test|torchrun)\b')
PATH = re.compile(r'(?<![\w/.$:-])((?:configs|tools|tests|mmtnt|docs)/[\w./-]+\.(?:py|sh|md|yml))')

# Text that records how the work went, or internal targets, rather than the product: it belongs in
# CHANGELOG.md or nowhere. Figures carry their command, machine and date instead.
DIARY = [
    r'measured here', r'not measured here', r'available to this project',
    r'no training has been possible', r'\brun [1-5]\b', r'\blent machines?\b', r'\bhas been lent\b',
    r'\bthe lent\b', r'scratch script', r'not reliably met', r'\b(?:is|was) met\b',
    r'\bbefore this\b', r'an earlier version', r'this session', r'\bwas not re-measured\b',
    r'can be downloaded here', r'\bturn ago\b', r'tried and not kept', r'attention-kernel session',
    r'\bTBD\b',  # a placeholder left for a figure
]
DIARY_RE = re.compile('|'.join(DIARY), re.IGNORECASE)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _slug(heading: str) -> str:
    return re.sub(r'[^a-z0-9 _-]', '', heading.strip().lower()).replace(' ', '-')


def _anchors(path: Path) -> set:
    return {_slug(line.lstrip('#')) for line in path.read_text().splitlines()
            if line.startswith('#')}


def _blocks(doc: Path, lang: str) -> list:
    """The code blocks of a page fenced as ```lang, in order."""
    return re.findall(rf'^```{lang}\n(.*?)^```', doc.read_text(), re.S | re.M)


def _run(code: str) -> str:
    """Run a snippet as a user would paste it; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, '<doc snippet>', 'exec'), {'__name__': '__doc_snippet__'})
    return out.getvalue()


@pytest.mark.parametrize('doc', [d for d in DOCS if d.name != 'CHANGELOG.md'], ids=_rel)
def test_named_files_exist(doc):
    text = doc.read_text()
    shipped = {str(Path(c).relative_to(ROOT)) for c in CONFIGS}
    for name in set(PATH.findall(text)):
        if '*' in name or name.startswith('configs/_base_/') and name.endswith('/'):
            continue
        assert (ROOT / name).exists(), f'{_rel(doc)} names {name}, which does not exist'
        if name.startswith('configs/') and '/_base_/' not in name and name.endswith('.py'):
            assert name in shipped, name


@pytest.mark.parametrize('doc', DOCS, ids=_rel)
def test_commands_name_existing_files(doc):
    in_block = False
    for line in doc.read_text().splitlines():
        if line.startswith('```'):
            in_block = not in_block
            continue
        if in_block and COMMAND.match(line):
            for token in line.split():
                if re.fullmatch(r'(tools|tests|configs)/[\w./-]+\.(py|sh)', token):
                    assert (ROOT / token).exists(), f'{_rel(doc)}: `{line.strip()}` names {token}'


@pytest.mark.parametrize('doc', DOCS, ids=_rel)
def test_relative_links_resolve(doc):
    for target in re.findall(r'\]\(([^)\s]+)\)', doc.read_text()):
        if re.match(r'[a-z]+://', target):
            continue
        path, _, anchor = target.partition('#')
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f'{_rel(doc)}: link to {target}'
        if anchor and file.suffix == '.md':
            assert anchor in _anchors(file), f'{_rel(doc)}: no heading #{anchor} in {file.name}'


def test_readme_is_a_front_page():
    lines = (ROOT / 'README.md').read_text().splitlines()
    assert len(lines) <= 200
    blocks = [i for i, line in enumerate(lines) if line.startswith('```bash')]
    assert lines[blocks[0] + 1].startswith('bash tools/setup_env.sh && python tools/train.py')
    assert lines[blocks[1] + 1] == 'python -m pytest tests'


def _config_comments(path: Path) -> str:
    with open(path, 'rb') as f:
        return '\n'.join(tok.string for tok in tokenize.tokenize(f.readline)
                         if tok.type == tokenize.COMMENT)


@pytest.mark.parametrize(
    'source',
    [d for d in DOCS if d.name != 'CHANGELOG.md'] + sorted((ROOT / 'configs').rglob('*.py')),
    ids=_rel)
def test_docs_speak_of_the_product(source):
    text = _config_comments(source) if source.suffix == '.py' else source.read_text()
    found = sorted({m.group(0) for m in DIARY_RE.finditer(text)})
    assert not found, (f'{_rel(source)} records how the work went ({found}): say what the product '
                       f'does, with command, machine and date for figures; history goes to '
                       f'CHANGELOG.md')


def test_get_started_verification_runs():
    doc = ROOT / 'docs' / 'get_started.md'
    verify = doc.read_text().split('## Verify the installation')[1]
    code = re.search(r'^```python\n(.*?)^```', verify, re.S | re.M).group(1)
    assert _run(code).strip() == '(1, 384, 15, 22) (1, 24, 60, 88)'


@pytest.fixture
def user_dir(tmp_path, toy_data_root, monkeypatch):
    """A user's working directory: the clone's configs, the toy set under data/toy_shapes."""
    (tmp_path / 'configs').symlink_to(ROOT / 'configs')
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'toy_shapes').symlink_to(Path(toy_data_root).resolve())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_own_dataset_guide_runs(user_dir):
    doc = ROOT / 'docs' / 'user_guides' / 'own_dataset.md'
    text = doc.read_text()
    # step 1: the generation command (the data is there: it checks and returns) and the json
    generate = re.search(r'^python -c "(.*)"$', text, re.M).group(1)
    _run(generate)
    excerpt = json.loads(_blocks(doc, 'json')[0])
    with open('data/toy_shapes/coco/instances_train.json') as f:
        ann = json.load(f)
    image, annotation = excerpt['images'][0], excerpt['annotations'][0]
    assert image in ann['images'] and annotation in ann['annotations']
    assert annotation['image_id'] == image['id'] and excerpt['categories'] == ann['categories']
    # step 2: the configs as a user saves them, then the check snippet
    names = list(dict.fromkeys(re.findall(r'`my_configs/(\w+\.py)`', text)))
    configs = [b for b in _blocks(doc, 'python') if b.startswith("_base_ = '../configs/toy/")]
    assert len(names) == len(configs) == 2, (names, len(configs))
    (user_dir / 'my_configs').mkdir()
    for name, code in zip(names, configs):
        (user_dir / 'my_configs' / name).write_text(code)
    check = next(b for b in _blocks(doc, 'python') if 'DATASETS.build' in b)
    printed = _run(check).splitlines()[-2:]  # after pycocotools' progress lines
    assert printed[0] == "400 ('circle', 'square', 'triangle')"
    assert re.fullmatch(r'tensor\(\[[0-2](, [0-2])*\]\)', printed[1]), printed[1]
    # the segmentation config reads the label PNGs with its four classes
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(f'my_configs/{names[1]}')
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(dataset) == 100 and len(dataset.metainfo['classes']) == 4
    labels = dataset[0]['data_samples'].gt_sem_seg.data.unique().tolist()
    assert set(labels) <= {0, 1, 2, 3, 255}, labels
    assert cfg.model.decode_head.num_classes == 4


def _random_checkpoint(config: str, path: str) -> None:
    """What tools/train.py would leave, from a randomly initialised model (seconds, not minutes)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmtnt.utils.tool_config import build_model
    cfg = Config.fromfile(config)
    model = build_model(cfg)
    registry = __import__(f'{cfg.default_scope}.registry', fromlist=['DATASETS'])
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset_type = registry.DATASETS.get(cfg.train_dataloader.dataset.type)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(dataset_type.METAINFO))), path)


def test_inference_guide_runs(user_dir):
    doc = ROOT / 'docs' / 'user_guides' / 'inference.md'
    snippets = _blocks(doc, 'python')
    checkpoints = sorted(set(re.findall(r"'(work_dirs/\w+/iter_3000\.pth)'", doc.read_text())))
    assert len(snippets) == 3 and len(checkpoints) == 2
    for ckpt in checkpoints:
        _random_checkpoint(f'configs/toy/{ckpt.split("/")[1]}.py', ckpt)
    detection, low_level, segmentation = (_run(code) for code in snippets)
    assert detection.strip() and 'torch.Size([' in low_level
    assert segmentation.splitlines()[-1] == '(128, 128)'  # after the loading and progress lines
    assert list((user_dir / 'outputs' / 'vis').iterdir())
