from .backbones import PyramidTNT, TNTBackbone
from .decode_heads import *  # noqa: F401,F403  (needs MMSegmentation)
from .decode_heads import __all__ as _heads
from .necks import TNTFeaturePyramid

__all__ = ['PyramidTNT', 'TNTBackbone', 'TNTFeaturePyramid'] + _heads
