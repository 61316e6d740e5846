"""Arguments and config loading shared by tools/train.py and tools/test.py (mmdet's conventions)."""
import argparse
import os
import os.path as osp
from typing import Optional

from importlib import import_module

from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope


def add_common_args(parser: argparse.ArgumentParser, cfg_example: str) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank``, as mmdet's tools."""
    parser.add_argument('--work-dir', help='the dir to save logs, models and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help=f'override config settings, key=value pairs such as {cfg_example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass it as an argument."""
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_tool_config(path: str,
                     launcher: str = 'none',
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """Load ``path``, apply ``--cfg-options`` and pick the work dir: ``work_dir`` if given, else
    the config's own, else ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def build_model(cfg: Config):
    """Build ``cfg.model`` from the registry of the config's ``default_scope`` (mmdet or mmseg).

    Raises:
        ValueError: a config of another scope.
    """
    scope = cfg.get('default_scope', 'mmdet')
    if scope not in ('mmdet', 'mmseg'):
        raise ValueError(f'default_scope={scope!r}: mmtnt builds mmdet and mmseg models.')
    with DefaultScope.overwrite_default_scope(scope):
        return import_module(f'{scope}.registry').MODELS.build(cfg.model)
