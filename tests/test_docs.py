"""The documentation against the tree: every config it names exists (and so is built by
test_configs), every file a command in a code block names exists, every relative link resolves
(anchors included), and the README stays a front page."""
import re
from pathlib import Path

import pytest

from test_configs import CONFIGS

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / 'README.md', ROOT / 'CHANGELOG.md'] + sorted((ROOT / 'docs').glob('*.md')) + sorted(
    (ROOT / 'configs').glob('*/README.md'))
COMMAND = re.compile(r'^\s*(?:[A-Z_]+=\S+\s+)*(python|bash|mmtnt-train|mmtnt-test|torchrun)\b')
PATH = re.compile(r'(?<![\w/.$:-])((?:configs|tools|tests|mmtnt|docs)/[\w./-]+\.(?:py|sh|md|yml))')


def _slug(heading: str) -> str:
    return re.sub(r'[^a-z0-9 _-]', '', heading.strip().lower()).replace(' ', '-')


def _anchors(path: Path) -> set:
    return {_slug(line.lstrip('#')) for line in path.read_text().splitlines()
            if line.startswith('#')}


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_named_files_exist(doc):
    text = doc.read_text()
    shipped = {str(Path(c).relative_to(ROOT)) for c in CONFIGS}
    for name in set(PATH.findall(text)):
        if '*' in name or name.startswith('configs/_base_/') and name.endswith('/'):
            continue
        assert (ROOT / name).exists(), f'{doc.name} names {name}, which does not exist'
        if name.startswith('configs/') and '/_base_/' not in name and name.endswith('.py'):
            assert name in shipped, name


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_commands_name_existing_files(doc):
    in_block = False
    for line in doc.read_text().splitlines():
        if line.startswith('```'):
            in_block = not in_block
            continue
        if in_block and COMMAND.match(line):
            for token in line.split():
                if re.fullmatch(r'(tools|tests|configs)/[\w./-]+\.(py|sh)', token):
                    assert (ROOT / token).exists(), f'{doc.name}: `{line.strip()}` names {token}'


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    for target in re.findall(r'\]\(([^)\s]+)\)', doc.read_text()):
        if re.match(r'[a-z]+://', target):
            continue
        path, _, anchor = target.partition('#')
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f'{doc.name}: link to {target}'
        if anchor and file.suffix == '.md':
            assert anchor in _anchors(file), f'{doc.name}: no heading #{anchor} in {file.name}'


def test_readme_is_a_front_page():
    lines = (ROOT / 'README.md').read_text().splitlines()
    assert len(lines) <= 200
    blocks = [i for i, line in enumerate(lines) if line.startswith('```bash')]
    assert lines[blocks[0] + 1].startswith('bash tools/setup_env.sh && python tools/train.py')
    assert lines[blocks[1] + 1] == 'python -m pytest tests'
