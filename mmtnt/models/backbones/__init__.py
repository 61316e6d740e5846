from .pyramid_tnt import PyramidTNT
from .tnt import ARCH_SETTINGS, TNTBackbone

__all__ = ['ARCH_SETTINGS', 'PyramidTNT', 'TNTBackbone']
