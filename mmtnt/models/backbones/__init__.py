from .tnt import ARCH_SETTINGS, TNTBackbone

__all__ = ['ARCH_SETTINGS', 'TNTBackbone']
