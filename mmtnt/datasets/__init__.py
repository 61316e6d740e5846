from .toy_datasets import ToyShapesCocoDataset, ToyShapesSegDataset
from .toy_shapes import ensure_toy_shapes

__all__ = ['ToyShapesCocoDataset', 'ToyShapesSegDataset', 'ensure_toy_shapes']
