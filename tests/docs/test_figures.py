"""Each measured figure has one home: a results table that gives its machine, date and command.
Other pages link to the table instead of repeating the figure, so that a figure measured anew is
changed in one place and no page keeps an old one.

A figure here is a decimal number of three or more significant digits, or a time in minutes, in a
table row of a home (ratios such as ``1.09x`` and software versions are not figures). Each
belongs to one home and appears on no other page, except where ``ALSO_SHOWN`` says why."""
import re

import pytest
from helpers import ROOT

# home page -> the headings whose tables hold measured figures (None: every table of the page)
HOMES = {
    'README.md': None,  # the suite's times
    'docs/get_started.md': ('Set-up times', ),
    'docs/advanced/speed.md': None,  # speed, memory, FLOPs, the toy runs
    'docs/user_guides/deploy.md': ('Results', ),
    'configs/tnt/README.md': None,
    'configs/pyramid_tnt/README.md': None,
    'configs/trans2seg/README.md': None,
}
# (page, figure): why the figure stands there as well as in its home
ALSO_SHOWN = {
    ('docs/user_guides/deploy.md', '67.6'): "PyTorch fp32 row: the backends' reference, sourced",
    ('docs/user_guides/deploy.md', '66.58'): "PyTorch fp32 row: the backends' reference, sourced",
    ('docs/user_guides/deploy.md', '51.54'): "PyTorch fp32 row: the backends' reference, sourced",
    ('docs/get_started.md', '3.11'): 'Python 3.11, a version',
    ('docs/get_started.md', '13.1'): 'CUDA 13.1, a version',
}
FIGURE = re.compile(r'(?<![\w.<>=])(\d+\.\d+|\d+ min(?: \d+ s)?)(?![\w.])')
RATIO = re.compile(r'[\d.]+(?:-[\d.]+)?x\b')
VERSION = re.compile(r'(?i)\b(?:python|torch|pytorch|cuda|onnx|onnxruntime|openvino|mmcv|mmdet|'
                     r'mmseg|mmengine|timm|numpy|gcc|nncf|mmsegmentation|mmdetection)[ =]+v?'
                     r'(\d+\.\d+)')
PAGES = ([ROOT / 'README.md'] + sorted((ROOT / 'docs').rglob('*.md'))
         + sorted((ROOT / 'configs').glob('*/README.md')))


def _figures(line: str) -> set:
    versions = set(VERSION.findall(line))
    return {f for f in FIGURE.findall(RATIO.sub('', line))
            if ('min' in f or len(f.replace('.', '').lstrip('0')) >= 3) and f not in versions}


def _home_figures() -> dict:
    """figure -> the home pages whose results tables hold it."""
    found = {}
    for rel, headings in HOMES.items():
        heading = None
        for line in (ROOT / rel).read_text().splitlines():
            if line.startswith('#'):
                heading = line.lstrip('#').strip()
            elif line.startswith('|') and (headings is None or (heading or '').startswith(headings)):
                for figure in _figures(line):
                    found.setdefault(figure, set()).add(rel)
    return found


HOME_FIGURES = _home_figures()


def test_homes_hold_figures():
    for rel in HOMES:
        assert rel in set().union(*HOME_FIGURES.values()), f'{rel} holds no figure: not a home'


def test_each_figure_has_one_home():
    shared = {f: sorted(pages) for f, pages in HOME_FIGURES.items()
              if len([p for p in pages if (p, f) not in ALSO_SHOWN]) > 1}
    assert not shared, f'figures in more than one results table: {shared}'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_figures_are_linked_not_copied(page):
    rel = str(page.relative_to(ROOT))
    copies = []
    for number, line in enumerate(page.read_text().splitlines(), 1):
        for figure in _figures(line):
            homes = HOME_FIGURES.get(figure, set())
            if homes and rel not in homes and (rel, figure) not in ALSO_SHOWN:
                copies.append(f'{rel}:{number}: {figure} (home: {", ".join(sorted(homes))})')
    assert not copies, ('a measured figure repeated away from its results table; link the table '
                        'instead:\n' + '\n'.join(copies))
