"""Wire tools/test.py's --out / --show / --show-dir into a detection or segmentation config."""
from typing import Optional

from mmengine.config import Config, ConfigDict


def setup_prediction_outputs(cfg: Config,
                       out: Optional[str] = None,
                       show: bool = False,
                       show_dir: Optional[str] = None,
                       wait_time: float = 2) -> None:
    """Turn on prediction pictures and result dumping, as mmdet's and mmseg's test tools do.

    Raises:
        ValueError: ``--out`` is not a pickle path, or the config has no visualization hook.
    """
    if show or show_dir:
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None:
            raise ValueError('--show / --show-dir need `default_hooks.visualization` in the config '
                             '(mmdet: DetVisualizationHook, mmseg: SegVisualizationHook).')
        hook['draw'] = True
        if show:
            hook['show'] = True
            hook['wait_time'] = wait_time
        if show_dir:
            if cfg.get('default_scope') == 'mmseg':
                cfg.visualizer['save_dir'] = show_dir
            else:
                hook['test_out_dir'] = show_dir
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl / .pickle file, got {out!r}.')
        dump = dict(type='DumpDetResults' if cfg.get('default_scope') == 'mmdet' else 'DumpResults',
                    out_file_path=out)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, (dict, ConfigDict)) and 'metrics' not in evaluator:
            cfg.test_evaluator = [evaluator, dump]
        elif isinstance(evaluator, (dict, ConfigDict)):
            evaluator['metrics'] = list(evaluator['metrics']) + [dump]
        else:
            cfg.test_evaluator = list(evaluator) + [dump]
