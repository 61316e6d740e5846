from mmengine.logging import print_log

from .toy_shapes import ensure_toy_shapes

try:
    from .toy_datasets import ToyShapesCocoDataset, ToyShapesSegDataset
except ImportError as e:
    # MMDetection / MMSegmentation import mmcv's compiled ops. Without them (mmcv-lite, as on a
    # bare GPU machine before its ops are built) the backbones still work; the toy datasets,
    # like every detector and segmentor, need the full mmcv.
    print_log(f'mmtnt: toy datasets not registered ({e}); install mmcv with its compiled ops '
              f'(bash tools/setup_env.sh) to train detectors and segmentors.', logger='current',
              level=30)
    __all__ = ['ensure_toy_shapes']
else:
    __all__ = ['ToyShapesCocoDataset', 'ToyShapesSegDataset', 'ensure_toy_shapes']
