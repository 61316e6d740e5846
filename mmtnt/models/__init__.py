from . import decode_heads  # noqa: F401  registers Trans2SegHead (imported when first built)
from .backbones import PyramidTNT, TNTBackbone
from .necks import TNTFeaturePyramid


def __getattr__(name: str):  # from mmtnt.models import Trans2SegHead
    return getattr(decode_heads, name)


__all__ = ['PyramidTNT', 'TNTBackbone', 'TNTFeaturePyramid']
