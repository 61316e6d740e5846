from .backbones import TNTBackbone

__all__ = ['TNTBackbone']
