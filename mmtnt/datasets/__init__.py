from mmtnt.registry import DATASETS, register_deferred
from .toy_shapes import ensure_toy_shapes

# The toy datasets subclass MMDetection's CocoDataset and MMSegmentation's BaseSegDataset: they
# are registered now and imported when first built (importing MMDetection / MMSegmentation takes
# seconds a backbone alone does not need).
_DEFERRED = {
    'ToyShapesCocoDataset': register_deferred(DATASETS, 'ToyShapesCocoDataset',
                                              'mmtnt.datasets.toy_datasets', 'MMDetection'),
    'ToyShapesSegDataset': register_deferred(DATASETS, 'ToyShapesSegDataset',
                                             'mmtnt.datasets.toy_datasets', 'MMSegmentation'),
}


def __getattr__(name: str):
    if name in _DEFERRED:  # from mmtnt.datasets import ToyShapesCocoDataset: the real class
        return _DEFERRED[name]._real()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


# (the toy datasets are left out of *: a star import would import MMDetection)
__all__ = ['ensure_toy_shapes']
