from mmtnt.registry import MODELS, register_deferred

# Trans2SegHead subclasses MMSegmentation's BaseDecodeHead: registered now, imported when first
# built (mmseg.models imports every MMSegmentation and MMDetection model: seconds).
_DEFERRED = {
    'Trans2SegHead': register_deferred(MODELS, 'Trans2SegHead',
                                       'mmtnt.models.decode_heads.trans2seg_head',
                                       'MMSegmentation'),
}


def __getattr__(name: str):
    if name in _DEFERRED:  # from mmtnt.models.decode_heads import Trans2SegHead: the real class
        return _DEFERRED[name]._real()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = []  # (Trans2SegHead is left out of *: a star import would import MMSegmentation)
