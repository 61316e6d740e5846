from .backbones import TNTBackbone
from .necks import TNTFeaturePyramid

__all__ = ['TNTBackbone', 'TNTFeaturePyramid']
