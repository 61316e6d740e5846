"""Console entry points of an installed mmtnt (no clone needed).

``mmtnt-train CONFIG [args]`` and ``mmtnt-test CONFIG CKPT [args]`` run the package's copies of
``tools/train.py`` and ``tools/test.py`` (in ``mmtnt/.mim/tools``) with the same arguments; a
config written ``mmtnt::PATH`` is ``PATH`` under the installed configs (``mmtnt/.mim/configs``),
e.g. ``mmtnt-train mmtnt::toy/retinanet_tnt_toy.py``. ``python -m mmtnt.cli train ...`` is the
same as ``mmtnt-train ...``; ``python -m mmtnt.cli configs`` prints the installed configs' folder,
for a config of your own that starts from one of them::

    _base_ = '/path/printed/toy/retinanet_tnt_toy.py'

(mmengine's ``mmtnt::`` inside ``_base_`` would build the inherited parts in an ``mmtnt`` scope,
where MMDetection's transforms and models are not found: the path is the way.)
"""
import os.path as osp
import runpy
import sys
from typing import List, Optional

from mmengine.logging import print_log

PREFIX = 'mmtnt::'


def mim_path(*parts: str) -> str:
    """A path under the installed package's ``.mim`` folder (its configs and tools)."""
    return osp.join(osp.dirname(osp.abspath(__file__)), '.mim', *parts)


def installed_config(name: str) -> str:
    """``mmtnt::PATH`` -> the installed config's file; any other name is returned as it is.

    Raises:
        FileNotFoundError: no such installed config.
    """
    if not name.startswith(PREFIX):
        return name
    path = mim_path('configs', name[len(PREFIX):])
    if not osp.isfile(path):
        raise FileNotFoundError(f'{name}: no such config in the installed mmtnt ({path}); the '
                                f'configs are listed under {mim_path("configs")}.')
    return path


def _run_tool(tool: str, argv: List[str]) -> None:
    path = mim_path('tools', f'{tool}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing: this mmtnt was installed without its tools '
                                f'(reinstall it from a wheel or with pip install .).')
    sys.argv = [path] + [installed_config(a) for a in argv]
    runpy.run_path(path, run_name='__main__')


def train(argv: Optional[List[str]] = None) -> None:
    _run_tool('train', sys.argv[1:] if argv is None else argv)


def test(argv: Optional[List[str]] = None) -> None:
    _run_tool('test', sys.argv[1:] if argv is None else argv)


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1] == 'configs':
        print_log(mim_path('configs'))  # no logger: the bare path, for $(...)
        return
    if len(sys.argv) < 2 or sys.argv[1] not in ('train', 'test'):
        raise SystemExit('usage: python -m mmtnt.cli {train,test} CONFIG [args...] | configs')
    _run_tool(sys.argv[1], sys.argv[2:])


if __name__ == '__main__':
    main()
