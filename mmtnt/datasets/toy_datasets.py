"""Registered datasets over the toy shapes data; they generate it on first use."""
from mmdet.datasets import CocoDataset
from mmseg.datasets import BaseSegDataset

from mmtnt.registry import DATASETS
from .toy_shapes import CLASSES, SEG_CLASSES, ensure_toy_shapes

PALETTE = [(220, 20, 60), (0, 128, 0), (0, 0, 230)]


@DATASETS.register_module(force=True)  # in place of the deferred entry
class ToyShapesCocoDataset(CocoDataset):
    """COCO-format toy shapes (circle / square / triangle); generated under ``data_root`` if absent."""

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, *args, data_root: str = 'data/toy_shapes/', **kwargs) -> None:
        ensure_toy_shapes(data_root.rstrip('/'))
        super().__init__(*args, data_root=data_root, **kwargs)


@DATASETS.register_module(force=True)  # in place of the deferred entry
class ToyShapesSegDataset(BaseSegDataset):
    """ADE20K-format toy shapes: label 0 is ignore (``reduce_zero_label``), 1 background."""

    METAINFO = dict(classes=SEG_CLASSES, palette=[(120, 120, 120)] + PALETTE)

    def __init__(self, *args, data_root: str = 'data/toy_shapes/', **kwargs) -> None:
        ensure_toy_shapes(data_root.rstrip('/'))
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        kwargs.setdefault('reduce_zero_label', True)
        super().__init__(*args, data_root=data_root, **kwargs)
