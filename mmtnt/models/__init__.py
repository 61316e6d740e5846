from .backbones import PyramidTNT, TNTBackbone
from .necks import TNTFeaturePyramid

__all__ = ['PyramidTNT', 'TNTBackbone', 'TNTFeaturePyramid']
